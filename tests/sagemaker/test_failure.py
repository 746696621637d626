"""Every failure ends the job non-zero with one short reason, whatever raised it.

sagemaker-training exits with an unknown exception's ``errno``, and with 0 when that is
``None``: these run an entry point through its real ``train`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.jobs import layout_host

from snowflake_xgb import sagemaker_layout as layout

_ENTRY_POINT = textwrap.dedent(
    """
    from snowflake_xgb.sagemaker import failure
    from snowflake_xgb.errors import UserError

    def _errno_none():
        # errno None, like connector 4.x's requests ConnectionError (connector 5.x has none)
        raise ConnectionError("chunk 7 of query 01b2: read timed out")

    def _user_error():
        raise UserError("Column X (label) is not in the result. Columns available: A, B.")

    def _exit_early():
        raise SystemExit(3)

    def errno_none():
        failure.run_entry_point(_errno_none)

    def user_error():
        failure.run_entry_point(_user_error)

    def exit_early():
        failure.run_entry_point(_exit_early)
    """
)


def _train(tmp_path: Path, function: str) -> tuple[int, str, str | None]:
    (tmp_path / "entry_points.py").write_text(_ENTRY_POINT)
    base = tmp_path / "opt_ml"
    layout_host(base, "algo-1", ["algo-1"], {}, None)
    environ = {
        **os.environ,
        layout.BASE_DIR_ENV: str(base),
        "SAGEMAKER_TRAINING_MODULE": f"entry_points:{function}",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "train")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    failure_file = base / layout.FAILURE_FILE
    reason = failure_file.read_text() if failure_file.exists() else None
    return result.returncode, result.stdout + result.stderr, reason


def test_an_exception_without_errno_exits_non_zero_with_a_short_reason(tmp_path: Path) -> None:
    code, log, reason = _train(tmp_path, "errno_none")
    assert code == 1
    assert reason.startswith("Internal error (ConnectionError: chunk 7 of query 01b2")
    assert "Traceback" not in reason and len(reason) < 1024
    assert "Traceback" in log  # the traceback goes to the log only


def test_a_user_error_is_the_failure_reason_as_written(tmp_path: Path) -> None:
    code, _, reason = _train(tmp_path, "user_error")
    assert code == 1
    assert reason == "Column X (label) is not in the result. Columns available: A, B."


@pytest.mark.parametrize("function", ["exit_early"])
def test_an_early_exit_is_a_failure_too(tmp_path: Path, function: str) -> None:
    code, _, reason = _train(tmp_path, function)
    assert code == 1 and reason == "The job exited with code 3."
