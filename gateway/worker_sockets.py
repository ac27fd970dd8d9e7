"""The listening sockets of `xcads serve --workers N`: one of its own per worker, on one port.

Sharing one listening socket, the workers race to accept, and the winner takes every
connection waiting: a client opening its pool of keep-alive connections at once had them all
on one worker while the others idled (bench/run.py, ITI-38 with two workers: about 410
queries/s in such runs against 700 to 860 in the others). With a socket of its own per worker
(SO_REUSEPORT), the kernel spreads new connections over the workers by their address.
"""

from __future__ import annotations

import socket
import sys

# Only Linux spreads connections over the sockets sharing a port; elsewhere one socket is shared.
SPREADS_CONNECTIONS = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class WorkerSocket(socket.socket):
    """A socket bound with SO_REUSEPORT that a worker process receives as a new socket of its
    own on the same address, rather than as a copy of this one.

    The supervisor keeps this one bound (so the port stays taken while workers restart) but
    never listening, so no connection waits on it; each worker listens on its own, which closes
    with the worker.
    """

    def __reduce_ex__(self, protocol: object) -> tuple:
        # uvicorn hands its sockets to each worker by pickling them.
        return bound_with_reuse_port, (self.family, self.getsockname()[:2])


def bound_with_reuse_port(
    family: int, address: tuple[str, int], *, port_must_be_free: bool = False
) -> WorkerSocket:
    """A TCP socket bound to `address` with SO_REUSEPORT (and SO_REUSEADDR, as uvicorn binds).

    With `port_must_be_free` SO_REUSEPORT is set only once bound: a port that another process
    listens on then fails to bind (EADDRINUSE), even if that process also set SO_REUSEPORT,
    rather than silently taking a share of its connections.
    """
    sock = WorkerSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if port_must_be_free:
            sock.bind(address)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_socket(host: str, port: int) -> WorkerSocket:
    """The supervisor's socket on `host`:`port` (0 picks a free port) for the workers to share;
    OSError if something else listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return bound_with_reuse_port(family, (host, port), port_must_be_free=True)
