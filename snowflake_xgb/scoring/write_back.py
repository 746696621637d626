"""Writing predictions back to Snowflake by its bulk path, exactly once, all or nothing.

Each host writes its predictions into one Parquet file (row groups of a block each; a new file
only past ``ROWS_PER_FILE``: few large files load fastest), ``PUT``s it to the job table's own
table stage (``@%table``: every table has one; no grant beyond owning the table) and loads it
with ``COPY INTO`` (``USE_VECTORIZED_SCANNER = TRUE``, columns matched by name, files purged
once loaded). Never row by row.

All or nothing: the rows go into a table of the job's own (``<target>_SCORING``, made anew by
every run), never into the target. Once every host has loaded its rows and the table holds
exactly the source's row count, the coordinator publishes it in one statement: ``INSERT
OVERWRITE INTO target SELECT * FROM job_table`` (one DML statement: the old rows and the new
never mix, and the target keeps its grants, which ``SWAP WITH`` would hand to the job's
table), or a ``RENAME`` when the target does not exist yet. A job that fails or is stopped
before that leaves the target as it was; its rerun replaces the job's table and writes every
key once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UserError
from ..identifiers import name_parts, quote, stored_name
from ..query.snowflake_session import Column, SnowflakeSession
from .scoring_model import OutputColumn

logger = logging.getLogger(__name__)

JOB_TABLE_SUFFIX = "_SCORING"
ROWS_PER_FILE = 5_000_000  # about 100-250 MB of Parquet: the file size Snowflake advises
PARQUET_COMPRESSION = "snappy"


@dataclass(frozen=True)
class Tables:
    """The target and the job's own table (same database and schema), as SQL names."""

    target: str
    job_table: str

    @classmethod
    def for_target(cls, target: str) -> Tables:
        parts = name_parts(target)
        last = stored_name(parts[-1]) + JOB_TABLE_SUFFIX
        job_table = ".".join([*parts[:-1], quote(last)])
        return cls(target, job_table)

    @property
    def job_table_stage(self) -> str:
        """The job table's own stage: ``@[db.schema.]%table``."""
        parts = name_parts(self.job_table)
        return "@" + ".".join([*parts[:-1], "%" + parts[-1]])


def output_select(source_sql: str, keys: Sequence[str], outputs: Sequence[OutputColumn]) -> str:
    """A SELECT with the columns the job writes, typed, and no rows: it types the job's table."""
    columns = [quote(stored_name(key)) for key in keys] + [
        f"CAST(NULL AS {column.snowflake_type}) AS {quote(column.name)}" for column in outputs
    ]
    return f"SELECT {', '.join(columns)} FROM ({source_sql}) WHERE FALSE"


def check_target(existing: list[Column] | None, wanted: list[Column], target: str) -> None:
    """A target that exists must have the columns this job writes (names and types, in order)."""
    if existing is None:
        return
    if [(c.name, c.type_name) for c in existing] != [(c.name, c.type_name) for c in wanted]:
        shown = ", ".join(f"{c.name} {c.type_name}" for c in wanted)
        found = ", ".join(f"{c.name} {c.type_name}" for c in existing)
        raise UserError(
            f"Target table {target} exists with other columns ({found}); this job writes "
            f"({shown}). Choose another target_table, or drop that table first."
        )


def create_job_table(session: SnowflakeSession, tables: Tables, select: str) -> None:
    """The job's own empty table, typed by ``select`` (a rerun's replaces a killed run's)."""
    session.fetch(
        f"CREATE OR REPLACE TABLE {tables.job_table} AS {select}",
        f"creating the job's table {tables.job_table} (the role needs CREATE TABLE on the "
        "target's schema)",
    )


class PredictionFiles:
    """This host's predictions as Parquet files under ``folder``: few, large."""

    def __init__(self, folder: Path, host_rank: int) -> None:
        self.folder = folder
        self.host_rank = host_rank
        self.paths: list[Path] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None or self._rows_in_file >= ROWS_PER_FILE:
            self._close_file()
            path = self.folder / f"host-{self.host_rank}-part-{len(self.paths)}.parquet"
            self._writer = pq.ParquetWriter(path, table.schema, compression=PARQUET_COMPRESSION)
            self.paths.append(path)
        self._writer.write_table(table)
        self._rows_in_file += table.num_rows
        self.rows += table.num_rows

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._rows_in_file = None, 0

    def close(self) -> None:
        self._close_file()


def load_files(session: SnowflakeSession, tables: Tables, files: PredictionFiles) -> int:
    """PUT this host's files to the job table's stage and COPY them in; the rows loaded."""
    folder = f"{tables.job_table_stage}/host-{files.host_rank}/"
    for path in files.paths:
        session.fetch(
            f"PUT 'file://{path}' '{folder}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE",
            f"uploading {path.name} to the stage of {tables.job_table}",
        )
    if not files.paths:
        return 0
    results = session.fetch(
        f"COPY INTO {tables.job_table} FROM '{folder}' "
        "FILE_FORMAT = (TYPE = PARQUET USE_VECTORIZED_SCANNER = TRUE) "
        "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE",
        f"loading this host's predictions into {tables.job_table}",
    )
    loaded = sum(int(row[3]) for row in results)  # file, status, rows_parsed, rows_loaded, ...
    if loaded != files.rows:
        raise UserError(
            f"COPY INTO {tables.job_table} loaded {loaded:,} of this host's {files.rows:,} "
            "prediction rows; the target is unchanged. Run the job again."
        )
    return loaded


def publish(
    session: SnowflakeSession, tables: Tables, expected_rows: int, target_exists: bool
) -> None:
    """Coordinator only: check the job's table holds every row, then publish it in one step."""
    ((rows,),) = session.fetch(
        f"SELECT COUNT(*) FROM {tables.job_table}", f"counting the rows of {tables.job_table}"
    )
    if int(rows) != expected_rows:
        raise UserError(
            f"The job's table {tables.job_table} holds {int(rows):,} rows, not the "
            f"{expected_rows:,} scored; {tables.target} is unchanged. Run the job again."
        )
    if target_exists:
        session.fetch(
            f"INSERT OVERWRITE INTO {tables.target} SELECT * FROM {tables.job_table}",
            f"publishing the predictions into {tables.target}",
        )
        session.fetch(f"DROP TABLE {tables.job_table}", f"dropping {tables.job_table}")
    else:
        session.fetch(
            f"ALTER TABLE {tables.job_table} RENAME TO {tables.target}",
            f"publishing the predictions as {tables.target}",
        )
    logger.info("Published %s rows into %s", f"{expected_rows:,}", tables.target)
