"""SIGTERM (a spot interruption, StopTrainingJob): before training the job stops at once; while
training it stops after the round in progress with a checkpoint; after training it finishes;
and a job stuck after the signal is ended within the deadline.

Real signals to this process (``signal.raise_signal`` runs the handler before it returns) and
real XGBoost training on a tiny matrix; the same through the whole ``train`` command, on one
and two hosts, is in ``test_checkpoints``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from snowflake_xgb import sagemaker_layout as layout
from snowflake_xgb.boosting import checkpoints, interruption
from snowflake_xgb.boosting.interruption import JobInterrupted, StopOnSignal

ROUNDS = 10
STOP_AT = 3  # SIGTERM arrives during this round (1, 2, ...)


@pytest.fixture(autouse=True)
def sigterm_handled() -> Iterator[None]:
    """SIGTERM handled as in a job during the test; this process's own handling after it."""
    previous = signal.getsignal(signal.SIGTERM)
    interruption.install()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        watchdog = interruption._state.watchdog  # the job's stop deadline: this process goes on
        if watchdog is not None:
            watchdog.cancel()


class SigtermDuring(xgb.callback.TrainingCallback):
    """Sends this process SIGTERM at the end of round ``round`` (1, 2, ...)."""

    def __init__(self, round: int) -> None:
        super().__init__()
        self.round = round

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        if epoch + 1 == self.round:
            signal.raise_signal(signal.SIGTERM)  # only sets the flag: no exception here
        return False


def _train(stop: StopOnSignal, rounds: int = ROUNDS, sigterm_at: int | None = STOP_AT) -> None:
    rows = np.arange(40, dtype=np.float32).reshape(20, 2)
    data = xgb.DMatrix(rows, label=rows[:, 0] * 2)
    callbacks = [SigtermDuring(sigterm_at)] if sigterm_at else []
    xgb.train({"max_depth": 2}, data, rounds, callbacks=[*callbacks, stop])


def test_sigterm_before_training_stops_the_job_at_once(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(JobInterrupted) as stopped:
        signal.raise_signal(signal.SIGTERM)
    assert "SIGTERM" in str(stopped.value)
    assert "before training started; nothing was trained and no model was written" in str(
        stopped.value
    )
    assert "Start the job again" in str(stopped.value)
    assert "SIGTERM received before training: stopping now" in caplog.text


def test_sigterm_while_training_stops_after_the_round_with_a_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(JobInterrupted) as stopped:
        _train(StopOnSignal(tmp_path))
    assert f"(SIGTERM, e.g. a spot interruption or StopTrainingJob) after {STOP_AT} rounds" in (
        str(stopped.value)
    )
    assert "no model was written" in str(stopped.value)
    name = checkpoints.checkpoint_path(tmp_path, STOP_AT).name
    assert f"Checkpoint {name} holds them; a restarted job resumes from it." in str(stopped.value)
    rounds, path = checkpoints.latest_checkpoint(tmp_path)
    assert rounds == STOP_AT and xgb.Booster(model_file=path).num_boosted_rounds() == STOP_AT
    assert "SIGTERM received: stopping after the current round" in caplog.text


def test_a_checkpoint_already_saved_for_the_round_is_not_written_again(tmp_path: Path) -> None:
    checkpoint = checkpoints.checkpoint_path(tmp_path, STOP_AT)
    checkpoint.write_bytes(b"saved by the checkpoint callback this round")
    with pytest.raises(JobInterrupted, match=f"Checkpoint {checkpoint.name} holds them"):
        _train(StopOnSignal(tmp_path))
    assert checkpoint.read_bytes() == b"saved by the checkpoint callback this round"
    assert [rounds for rounds, _ in checkpoints.saved_checkpoints(tmp_path)] == [STOP_AT]


def test_without_a_checkpoint_folder_the_message_says_a_restart_starts_over() -> None:
    with pytest.raises(JobInterrupted) as stopped:
        _train(StopOnSignal(None))
    assert f"after {STOP_AT} rounds; no model was written." in str(stopped.value)
    assert "No checkpoint folder is configured, so a restarted job starts over." in str(
        stopped.value
    )


def test_a_caller_says_what_a_restart_does_without_a_checkpoint() -> None:
    """Cross-validation saves no checkpoints and says so in its own words."""
    with pytest.raises(JobInterrupted, match=r"no model was written\. Folds restart\.$"):
        _train(StopOnSignal(None, "Folds restart."))


def test_sigterm_after_training_lets_the_job_finish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _train(StopOnSignal(tmp_path), sigterm_at=None)  # trained to the end
    signal.raise_signal(signal.SIGTERM)  # while the model is written: no exception
    assert "SIGTERM received: training is done, finishing writing the model" in caplog.text
    assert checkpoints.latest_checkpoint(tmp_path) is None


STUCK_AFTER_SIGTERM = """
import signal, sys, time
from snowflake_xgb.boosting import interruption
interruption.STOP_DEADLINE_SECONDS = 1.0
interruption.install()
interruption.StopOnSignal(None).before_training(None)  # in training: SIGTERM only sets a flag
signal.raise_signal(signal.SIGTERM)
time.sleep(60)  # stuck where no callback runs (a collective step waiting on a lost host)
sys.exit(3)
"""


def test_a_job_stuck_after_sigterm_is_ended_at_the_deadline(tmp_path: Path) -> None:
    (tmp_path / layout.OUTPUT_DIR).mkdir()
    done = subprocess.run(
        [sys.executable, "-c", STUCK_AFTER_SIGTERM],
        env={**os.environ, layout.BASE_DIR_ENV: str(tmp_path)},
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == interruption.INTERRUPTED_EXIT_CODE, done.stderr.decode()
    failure = (tmp_path / layout.FAILURE_FILE).read_text()
    assert "did not stop within 1s (training)" in failure
    assert "resumes from the newest checkpoint" in failure
