# xcads as a container: `xcads migrate`, then `xcads serve` on port 8080 as an unprivileged user.
# Replicas may start together: on PostgreSQL the migration holds an advisory lock, so one replica
# migrates and the others wait, then find the schema current.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/xcads
COPY pyproject.toml README.md LICENSE ./
COPY registry ./registry
COPY repository ./repository
COPY mhd ./mhd
COPY gateway ./gateway
COPY conformance ./conformance
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/xcads --create-home xcads

USER xcads
# The embedded default keeps its data here; with PostgreSQL and S3 configured it stays empty.
ENV XCADS_DATA_DIR=/var/lib/xcads
# `docker stop` waits 10 s before SIGKILL by default: requests under way get 8 s of it to finish.
# Raise both together (compose: stop_grace_period).
ENV XCADS_SHUTDOWN_GRACE_SECONDS=8
VOLUME ["/var/lib/xcads"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]

# exec: xcads serve is PID 1's replacement, so it is the process that receives SIGTERM.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "xcads migrate && exec xcads serve --host 0.0.0.0 --port 8080"]
