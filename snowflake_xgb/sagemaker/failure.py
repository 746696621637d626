"""How a failed job ends: one short reason in the failure file, then a non-zero exit.

SageMaker shows the first 1024 characters of ``/opt/ml/output/failure`` as the job's
FailureReason. This module alone writes that file and ends the process on failure:

- :func:`record` writes a reason; the first one wins (a later error caused by the first must
  not hide it);
- :func:`abort` records and ends the process at once, from any thread (a watchdog's way out);
- :func:`run_entry_point` runs an entry point and turns *every* failure into a recorded reason
  and exit code 1: a :class:`UserError` with its own message, anything else as an internal
  error whose traceback goes to the log only.

Why not leave exceptions to sagemaker-training: for one it does not know it exits with the
exception's ``errno``; an exception whose ``errno`` is ``None`` (the connector's
``ConnectionError``, for one) makes its handler fail and the job exit 0, and its ``finally``
turns a ``SystemExit`` into exit 0 as well. So no exception reaches it, and the process ends
with ``os._exit`` once the logs are flushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .. import redaction, sagemaker_layout
from ..errors import FAILURE_REASON_LIMIT, UserError

logger = logging.getLogger(__name__)

FAILURE_EXIT_CODE = 1


def failure_file() -> Path:
    return sagemaker_layout.base_dir() / sagemaker_layout.FAILURE_FILE


def recorded_reason() -> str | None:
    """The reason recorded so far (by this process or a child, such as a user's script)."""
    try:
        text = failure_file().read_text().strip()
    except OSError:
        return None
    return text or None


def record(reason: str) -> None:
    """Make ``reason`` the job's failure reason, unless an earlier one is recorded already."""
    reason = redaction.redact(" ".join(reason.split()))[:FAILURE_REASON_LIMIT]
    path = failure_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as f:
            f.write(reason)
    except FileExistsError:
        pass
    except OSError as error:  # no writable output folder (a script run by hand): log only
        logger.warning("Could not write the failure reason to %s: %s", path, error)


def _exit(code: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def abort(reason: str, code: int = FAILURE_EXIT_CODE) -> None:
    """Record ``reason`` and end the process now (from any thread)."""
    logger.error(redaction.redact(reason))
    record(reason)
    _exit(code)


def internal_error_reason(error: BaseException) -> str:
    """A short reason for an error this package did not anticipate (the log has the rest)."""
    first_line = next((line for line in str(error).splitlines() if line.strip()), "")
    return (
        f"Internal error ({type(error).__name__}: {first_line[:300]}). The traceback is in the "
        "job's log; if the cause is not clear from it, please report it."
    )


def run_entry_point(entry_point: Callable[[], None]) -> None:
    """Run ``entry_point``; on any failure record a reason and exit non-zero."""
    try:
        entry_point()
    except UserError as error:
        abort(str(error))
    except SystemExit as error:
        if error.code in (0, None):
            raise
        abort(f"The job exited with code {error.code}.")
    except BaseException as error:
        logger.error("Unexpected error", exc_info=True)
        abort(internal_error_reason(error))
