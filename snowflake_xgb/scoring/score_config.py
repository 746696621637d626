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


# What a scoring job reads: its ``ScoreConfig``, which holds the source and keys under other
# names. Every other setting describes training: given with job=score, it is refused, not ignored.
_SCORING_READS = {
    "job",
    "table",
    "query",
    "key",
    *settings.held_by(ScoreConfig),
    *HOSTS_SETTINGS,
    *DOWNLOAD_SETTINGS,
}
_TRAINING_ONLY = tuple(s.name for s in settings.SETTINGS if s.name not in _SCORING_READS)


def is_scoring_job(hyperparameters: Mapping[str, str]) -> bool:
    """Whether the hyperparameters ask for a scoring job (``job=score``)."""
    return settings.parse("job", hyperparameters.get("job")) == settings.JobKind.SCORE


def parse_score_hyperparameters(hyperparameters: Mapping[str, str]) -> ScoreConfig:
    """Validate a scoring job's string hyperparameters."""
    refuse_credential_names(hyperparameters)
    parsed = settings.parse_all(hyperparameters)
    given = [name for name in _TRAINING_ONLY if str(hyperparameters.get(name) or "").strip()]
    if given:
        raise UserError(
            "job=score uses the model's own features and label, and trains nothing: remove "
            f"{', '.join(given)}."
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
