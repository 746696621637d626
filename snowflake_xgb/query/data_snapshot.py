"""Which rows a job trained on, recorded next to its checkpoints so a resumed job reads them again.

Without ``ORDER BY`` Snowflake does not promise the same row order twice, and a table changes:
a job resumed from a checkpoint must not simply run its queries again. The coordinator records
in the checkpoint folder (``data-snapshot.json``; SageMaker syncs it with the checkpoints to S3
and back) the query ids it trained on, the result columns and Snowflake's time when it submitted
them. A resumed attempt then, in order of preference:

- ``reopened``: reopens those results by id while Snowflake still holds them (24 hours): the
  same rows in the same order, so the same rows on the same host;
- ``time_travel``: a ``table`` source read as the first attempt's statement read it
  (``AT(STATEMENT => '<its query id>')``: as of that statement's own start, after its compile
  and queue time; records written before that was kept fall back to the time it was submitted);
- ``rerun``: a ``query`` source run again (the log warns, ``metadata.json`` says so).

A first attempt is ``submitted`` (or ``time_travel`` with the ``snapshot`` setting). The record
is written whole or not at all, and one written for other data is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..config.job_config import DataSpec
from ..config.settings import validate_snapshot
from ..errors import UserError
from ..identifiers import QUERY_ID
from ..model_files.columns import ColumnSelection
from ..model_files.outputs import write_json

logger = logging.getLogger(__name__)

RECORD_FILE_NAME = "data-snapshot.json"


class SnapshotMode(StrEnum):
    """How an attempt read its rows (``metadata.json``'s ``data_snapshot.mode``)."""

    SUBMITTED = "submitted"
    REOPENED = "reopened"
    TIME_TRAVEL = "time_travel"
    RERUN = "rerun"


@dataclass(frozen=True)
class DataSnapshot:
    """How this attempt read its rows: ``metadata.json``'s ``data_snapshot``.

    ``query_ids`` names each data set's query (``training``, ``validation``, ``fold-<k>``);
    ``started_at`` is Snowflake's time when they were submitted (ISO 8601); ``as_of`` the point
    the tables were read as of (Time Travel), when they were; ``read_by`` the query id of the
    statement that read the tables (the job's pinned rows, else the first data set's query).
    """

    mode: SnapshotMode
    query_ids: dict[str, str]
    started_at: str
    as_of: str | None = None
    read_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def read_as(self) -> str | None:
        """How this attempt read rows submitted earlier, in words (None: it submitted them)."""
        return {
            SnapshotMode.REOPENED: "reopened by id",
            SnapshotMode.TIME_TRAVEL: f"tables as of {self.as_of}",
            SnapshotMode.RERUN: "query run again",
        }.get(self.mode)


@dataclass(frozen=True)
class Record:
    """What ``data-snapshot.json`` holds: the snapshot, the columns of its results (with their
    encoding: category lists, label classes) and the rows per query group."""

    snapshot: DataSnapshot
    columns: ColumnSelection
    group_sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def point(self) -> str:
        """The query id (or time) the recorded rows stand for, to read tables as of it: the
        statement that read them sees the tables as of its own start, which is later than
        ``started_at`` by its compile and queue time."""
        return self.snapshot.as_of or self.snapshot.read_by or self.snapshot.started_at


def data_fingerprint(data: DataSpec) -> str:
    """Identifies what data a job reads; a record of other data belongs to another job."""
    text = json.dumps(asdict(data), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def record_path(directory: Path) -> Path:
    return directory / RECORD_FILE_NAME


def write_record(directory: Path, data: DataSpec, record: Record) -> Path:
    path = record_path(directory)
    write_json(
        path,
        {
            "data": data_fingerprint(data),
            "columns": record.columns.to_metadata(),
            "group_sizes": {name: list(sizes) for name, sizes in record.group_sizes.items()},
            **record.snapshot.to_json(),
        },
    )
    return path


def _damaged(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} ({why}) is not a record this job wrote: give this job its own "
        "checkpoint_s3_uri, or empty that location."
    )


def read_record(directory: Path, data: DataSpec) -> Record | None:
    """The record of an earlier attempt of this job, or None when there is none."""
    path = record_path(directory)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        query_ids = {str(k): str(v) for k, v in document["query_ids"].items()}
        columns = ColumnSelection.from_metadata(document["columns"])
        group_sizes = {
            str(name): tuple(int(n) for n in sizes)
            for name, sizes in document.get("group_sizes", {}).items()
        }
        started_at = validate_snapshot(str(document["started_at"]), "started_at")
        as_of = document.get("as_of")
        as_of = validate_snapshot(str(as_of), "as_of") if as_of else None
        read_by = document.get("read_by")
        if read_by is not None and not QUERY_ID.fullmatch(str(read_by)):
            raise ValueError(read_by)
        mode = SnapshotMode(document["mode"])
        fingerprint = document["data"]
    except (ValueError, KeyError, TypeError, AttributeError, UserError):
        raise _damaged(path, "unreadable") from None
    if not query_ids or not all(QUERY_ID.fullmatch(q) for q in query_ids.values()):
        raise _damaged(path, "no valid query ids")
    if fingerprint != data_fingerprint(data):
        raise UserError(
            f"{path} records the rows of a job that read other data (another table, query, "
            "columns or split): it belongs to another job. Give this job its own "
            "checkpoint_s3_uri, or empty that location."
        )
    snapshot = DataSnapshot(mode, query_ids, started_at, as_of, read_by)
    return Record(snapshot, columns, group_sizes)


def mode_when_gone(data: DataSpec) -> SnapshotMode:
    """How the rows are read again when the recorded results are gone."""
    if any(source.query for source in data.sources):
        return SnapshotMode.RERUN
    return SnapshotMode.TIME_TRAVEL


def first_mode(data: DataSpec) -> SnapshotMode:
    if any(source.as_of for source in data.sources):
        return SnapshotMode.TIME_TRAVEL
    return SnapshotMode.SUBMITTED
