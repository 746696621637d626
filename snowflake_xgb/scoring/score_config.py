"""The scoring job's settings, validated before any network call (``ScoreConfig``).

``job=score`` reads the same settings table as training (``config.settings``): the rows from
``table`` or ``query``, the key columns to carry through, the target table, whether to write
contributions, and the shared bounds (Snowflake statements, downloads, the hosts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config import settings
from ..config.job_config import (
    DOWNLOAD_SETTINGS,
    HOSTS_SETTINGS,
    DownloadSettings,
    HostsSettings,
    Source,
)
from ..errors import UserError
from ..identifiers import stored_name
from ..redaction import refuse_credential_names

# Settings that describe training only: set with job=score, they are refused, not ignored.
_TRAINING_ONLY = (
    "label",
    "features",
    "exclude",
    "validation_table",
    "validation_query",
    "validation_fraction",
    "cv_folds",
    "weight",
    "group",
    "categorical",
    "numeric",
    "num_round",
    "early_stopping_rounds",
    "snapshot",
)


@dataclass(frozen=True)
class ScoreConfig:
    """What a scoring job was asked to do."""

    source: Source
    keys: tuple[str, ...]
    target_table: str
    contributions: bool
    query_timeout_seconds: int
    hosts: HostsSettings
    downloads: DownloadSettings


def is_scoring_job(hyperparameters: Mapping[str, str]) -> bool:
    """Whether the hyperparameters ask for a scoring job (``job=score``)."""
    return settings.parse("job", hyperparameters.get("job")) == settings.JobKind.SCORE


def parse_score_hyperparameters(hyperparameters: Mapping[str, str]) -> ScoreConfig:
    """Validate a scoring job's string hyperparameters."""
    refuse_credential_names(hyperparameters)
    parsed = settings.parse_all(hyperparameters)
    given = [name for name in _TRAINING_ONLY if parsed[name] not in (None, ())]
    if given:
        raise UserError(
            f"job=score uses the model's own features and label: remove {', '.join(given)}."
        )
    table, query = parsed["table"], parsed["query"]
    if bool(table) == bool(query):
        raise UserError("Set the rows to score: hyperparameter table or query (one of them).")
    if not parsed["key"]:
        raise UserError(
            "Set hyperparameter key to the column(s) that identify a row (comma-separated): "
            "each prediction row carries them."
        )
    keys = tuple(parsed["key"])
    if len({stored_name(key) for key in keys}) != len(keys):
        raise UserError(f"key names a column twice: {', '.join(keys)}.")
    if not parsed["target_table"]:
        raise UserError("Set hyperparameter target_table: the table the predictions go to.")
    return ScoreConfig(
        source=Source(table=table) if table else Source(query=query),
        keys=keys,
        target_table=parsed["target_table"],
        contributions=parsed["contributions"],
        query_timeout_seconds=parsed["query_timeout_seconds"],
        hosts=HostsSettings(**{name: parsed[name] for name in HOSTS_SETTINGS}),
        downloads=DownloadSettings(**{name: parsed[name] for name in DOWNLOAD_SETTINGS}),
    )
