"""Describe an unexpected failure for the log without quoting its message.

Exception messages can carry request data (SQL parameters hold patient ids), so above DEBUG only
the exception's type, its cause's type and where it was raised are logged.
"""

from __future__ import annotations

import traceback
from pathlib import Path


def failure_fields(error: BaseException) -> str:
    """Return `error=… cause=… at=file:line` for a log line."""
    cause = getattr(error, "orig", None) or error.__cause__ or error.__context__
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown"
    cause_name = type(cause).__name__ if cause is not None else "none"
    return f"error={type(error).__name__} cause={cause_name} at={where}"
