"""Stopping cleanly when SageMaker sends SIGTERM (managed spot interruption, StopTrainingJob).

SageMaker sends SIGTERM and kills the container about 120 seconds later. On SIGTERM:

- before training (credentials, queries, loading), the job stops at once with
  :class:`JobInterrupted`: nothing has been trained, so there is nothing to save;
- while training, the signal only sets a flag; after the round in progress, every host agrees
  (one ``allreduce`` per round when distributed, so all hosts stop at the same round and leave
  the collective together), the coordinator saves a checkpoint unless one for this round exists,
  and training stops with :class:`JobInterrupted`. No model is written: a restarted job resumes
  from the checkpoint;
- after training (writing the model), the job finishes: that takes a moment.

A watchdog makes sure the process ends within :data:`STOP_DEADLINE_SECONDS` of the signal even
when the main thread is stuck in native code (a collective step waiting for a lost host).
In a container, ``train`` is PID 1, which ignores SIGTERM unless a handler is installed: this is
that handler.
"""

from __future__ import annotations

import logging
import signal
import threading
from enum import StrEnum
from pathlib import Path

import numpy as np
import xgboost as xgb
from xgboost import collective

from ..errors import UserError
from ..sagemaker import failure
from . import checkpoints

logger = logging.getLogger(__name__)

# Well inside SageMaker's 120 s between SIGTERM and SIGKILL.
STOP_DEADLINE_SECONDS = 90.0
INTERRUPTED_EXIT_CODE = 1


class Phase(StrEnum):
    """Where the job is when SIGTERM comes: it decides what the signal does (see above)."""

    BEFORE_TRAINING = "before training"
    TRAINING = "training"
    AFTER_TRAINING = "after training"


class JobInterrupted(UserError):
    """The job was asked to stop (SIGTERM) and did."""


class _State:
    def __init__(self) -> None:
        self.requested = False
        self.phase = Phase.BEFORE_TRAINING
        self.watchdog: threading.Timer | None = None


_state = _State()


def _force_exit() -> None:
    message = (
        f"The job received SIGTERM and did not stop within {STOP_DEADLINE_SECONDS:.0f}s "
        f"({_state.phase}); it was ended. A restarted job resumes from the newest checkpoint."
    )
    failure.abort(message, INTERRUPTED_EXIT_CODE)


def _handle(signum: int, frame: object) -> None:
    first = not _state.requested
    _state.requested = True
    if first:
        _state.watchdog = threading.Timer(STOP_DEADLINE_SECONDS, _force_exit)
        _state.watchdog.daemon = True
        _state.watchdog.start()
    name = signal.Signals(signum).name
    if _state.phase == Phase.TRAINING:
        logger.warning("%s received: stopping after the current round", name)
    elif _state.phase == Phase.AFTER_TRAINING:
        logger.warning("%s received: training is done, finishing writing the model", name)
    elif first:
        logger.warning("%s received before training: stopping now", name)
        raise JobInterrupted(
            f"The job was stopped ({name}, e.g. a spot interruption or StopTrainingJob) before "
            "training started; nothing was trained and no model was written. Start the job again."
        )


def install() -> None:
    """Handle SIGTERM for the rest of the process (call once, from the main thread)."""
    _state.requested = False
    _state.phase = Phase.BEFORE_TRAINING
    signal.signal(signal.SIGTERM, _handle)


class StopOnSignal(xgb.callback.TrainingCallback):
    """Stops training after the round in progress once SIGTERM arrived, on every host alike.

    Add it on every host (it takes part in a collective step each round when distributed);
    give ``checkpoint_dir`` only on the coordinator.
    """

    def __init__(self, checkpoint_dir: Path | None, without_checkpoint: str | None = None) -> None:
        """``without_checkpoint``: what a restart does when no checkpoint is saved, if not the
        default (no checkpoint folder configured)."""
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.without_checkpoint = without_checkpoint or (
            "No checkpoint folder is configured, so a restarted job starts over."
        )

    def before_training(self, model: xgb.Booster) -> xgb.Booster:
        _state.phase = Phase.TRAINING
        return model

    def after_training(self, model: xgb.Booster) -> xgb.Booster:
        _state.phase = Phase.AFTER_TRAINING
        return model

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        stop = _state.requested
        if collective.is_distributed():
            flag = np.array([1.0 if stop else 0.0], dtype=np.float64)
            stop = bool(collective.allreduce(flag, collective.Op.MAX)[0] > 0)
        if not stop:
            return False
        # A second signal must not interrupt the checkpoint being saved.
        _state.phase = Phase.AFTER_TRAINING
        rounds = model.num_boosted_rounds()
        saved = ""
        if self.checkpoint_dir is not None:
            latest = checkpoints.latest_checkpoint(self.checkpoint_dir)
            if latest is None or latest[0] != rounds:
                checkpoints.save_checkpoint(self.checkpoint_dir, model)
            saved = f" Checkpoint {checkpoints.checkpoint_path(self.checkpoint_dir, rounds).name}"
            saved += " holds them; a restarted job resumes from it."
        elif not collective.is_distributed() or collective.get_rank() == 0:
            saved = f" {self.without_checkpoint}"
        reason = "SIGTERM" if _state.requested else "another host received SIGTERM"
        raise JobInterrupted(
            f"The job was stopped ({reason}, e.g. a spot interruption or StopTrainingJob) "
            f"after {rounds} rounds; no model was written.{saved}"
        )
