"""Saving boosters while training and resuming from the newest one (managed spot training).

When SageMaker configures a checkpoint folder, the coordinator saves the booster every
``checkpoint_frequency`` rounds as ``checkpoint-<rounds>.ubj`` (written whole, then renamed) and
keeps the newest few. On start, the newest checkpoint is the model to continue from; the saving
and the finding use one name pattern, defined once here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import xgboost as xgb

from ..errors import UserError
from ..model_files.outputs import write_atomically

logger = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 3
_PATTERN = re.compile(r"checkpoint-(\d+)\.ubj")


def checkpoint_path(directory: Path, rounds: int) -> Path:
    return directory / f"checkpoint-{rounds:06d}.ubj"


def saved_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(rounds, path) of each checkpoint in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _PATTERN.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory: Path) -> tuple[int, Path] | None:
    checkpoints = saved_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(directory: Path, booster: xgb.Booster) -> Path:
    rounds = booster.num_boosted_rounds()
    path = checkpoint_path(directory, rounds)
    write_atomically(path, bytes(booster.save_raw(raw_format="ubj")))
    for _, old in saved_checkpoints(directory)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    logger.info("Checkpoint saved after %d rounds: %s", rounds, path.name)
    return path


class CheckpointCallback(xgb.callback.TrainingCallback):
    """Saves a checkpoint every ``frequency`` rounds and after the last one.

    The cadence counts the booster's rounds, not this run's: a job resumed from round 137 with
    frequency 50 saves at 150, 200, ... like an uninterrupted one.
    """

    def __init__(self, directory: Path, frequency: int) -> None:
        super().__init__()
        self.directory = directory
        self.frequency = frequency

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        if model.num_boosted_rounds() % self.frequency == 0:
            save_checkpoint(self.directory, model)
        return False

    def after_training(self, model: xgb.Booster) -> xgb.Booster:
        latest = latest_checkpoint(self.directory)
        if latest is None or latest[0] != model.num_boosted_rounds():
            save_checkpoint(self.directory, model)
        return model


def check_resumable(
    booster: xgb.Booster, feature_names: Sequence[str], num_round: int, directory: Path
) -> None:
    """Refuse a checkpoint that another job left (SageMaker reuses a checkpoint S3 URI as is).

    A checkpoint of this job has this job's features, in order, and at most ``num_round`` rounds.
    """
    saved = list(booster.feature_names or [])
    if saved != list(feature_names):
        raise UserError(
            f"The newest checkpoint in {directory} was trained on other features "
            f"({', '.join(saved[:10]) or 'unnamed'}{', ...' if len(saved) > 10 else ''}) than "
            f"this job reads ({', '.join(list(feature_names)[:10])}"
            f"{', ...' if len(feature_names) > 10 else ''}): it belongs to another job. Give "
            "this job its own checkpoint_s3_uri, or empty that location."
        )
    rounds = booster.num_boosted_rounds()
    if rounds > num_round:
        raise UserError(
            f"The newest checkpoint in {directory} has {rounds} rounds, more than this job's "
            f"num_round={num_round}: it belongs to another job. Give this job its own "
            "checkpoint_s3_uri, or empty that location."
        )
