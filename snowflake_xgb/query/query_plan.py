"""The queries of a job, decided once: the coordinator checks the source, resolves the columns,
submits each query a single time and shares the plan (query ids and columns) with every host.

The plan also fixes what every host must encode alike: each categorical column's sorted
category list and a text label's classes, read from the training rows with bounded
``SELECT DISTINCT`` statements, and, for learning to rank, the rows per query group in result
order, which the hosts cut their slices at. With a record folder (the job's checkpoint folder),
the plan is recorded there, and a resumed attempt reads the recorded rows again rather than
submitting anew (``data_snapshot``).
Used by the training job and the public API alike.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..config.job_config import DataSpec
from ..credentials.snowflake_environment import SnowflakeEnvironment
from ..data_sets import TRAINING, VALIDATION, fold_name
from ..errors import UserError
from ..hosts.hosts import Hosts, statement_bound
from ..model_files.columns import ColumnSelection
from ..model_files.encoding import Encoding, too_many_categories
from . import data_snapshot
from .data_snapshot import DataSnapshot, Record, SnapshotMode
from .queries import (
    distinct_count_sql,
    distinct_values_sql,
    group_sizes_sql,
    job_queries,
    select_columns,
    selection_sql,
    source_sql,
    stored_result_source,
)
from .snowflake_session import SnowflakeSession, open_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryPlan:
    """What the coordinator decided and submitted (or reopened), shared with every host."""

    columns: ColumnSelection
    snapshot: DataSnapshot
    # Rows per query group in result order, by data name ("training", "validation").
    group_sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def query_ids(self) -> dict[str, str]:
        """Each data set's query id: ``training`` and ``validation``, or ``fold-<k>``."""
        return self.snapshot.query_ids

    @property
    def train_query_id(self) -> str | None:
        return self.query_ids.get(TRAINING)

    @property
    def validation_query_id(self) -> str | None:
        return self.query_ids.get(VALIDATION)


def read_categories(
    session: SnowflakeSession, columns: ColumnSelection, rows_sql: str, max_categories: int
) -> ColumnSelection:
    """``columns`` with every category list and a text label's classes, from ``rows_sql``."""

    def distinct(name: str) -> list:
        limited = distinct_values_sql(rows_sql, name, max_categories + 1)
        values = [row[0] for row in session.fetch(limited, f"the distinct values of {name}")]
        if len(values) > max_categories:
            ((count,),) = session.fetch(
                distinct_count_sql(rows_sql, name), f"the count of distinct values of {name}"
            )
            raise too_many_categories(name, f"{count:,}", max_categories)
        return values

    features = tuple(
        feature.with_categories(distinct(feature.name), max_categories)
        if feature.needs_category_discovery
        else feature
        for feature in columns.encoding.features
    )
    label = columns.encoding.label
    if label.is_text:
        label = label.with_classes(distinct(label.name))
    return dataclasses.replace(columns, encoding=Encoding(features, label))


def read_group_sizes(
    session: SnowflakeSession, rows_sql: str, group: str, name: str
) -> tuple[int, ...]:
    """Rows per query group of ``rows_sql``, in the order the job reads them."""
    rows = session.fetch(group_sizes_sql(rows_sql, group), f"the {name} query groups")
    nulls = sum(int(count) for is_null, count in rows if is_null)
    if nulls:
        raise UserError(
            f"The {name} data has {nulls} row(s) with a NULL group id ({group}): every row "
            f"needs its query group; filter them out (WHERE {group} IS NOT NULL) or fill them."
        )
    return tuple(int(count) for _, count in rows)


def reads_source_more_than_once(data: DataSpec, columns: ColumnSelection) -> bool:
    """Whether the job's statements read the source more than once (splits, folds, category
    lists, class lists or query group sizes besides the data itself)."""
    encoding = columns.encoding
    return bool(
        data.validation_fraction is not None
        or data.cv_folds is not None
        or columns.query_group
        or encoding.label.is_text
        or any(feature.needs_category_discovery for feature in encoding.features)
    )


def pin_rows(
    session: SnowflakeSession, data: DataSpec, columns: ColumnSelection
) -> tuple[DataSpec, str | None]:
    """``data`` read from one point in time: the selection runs once, and every later statement
    (splits, folds, category lists, group sizes) reads that stored result; with the id of the
    statement that read the source (None: the data set queries read it themselves).

    Without this, a table that changes between two statements (or a query that is not
    deterministic: SAMPLE, LIMIT without ORDER BY, RANDOM()) could put a row in training and
    validation, in two folds or in none, and shift group sizes under the hosts' cuts.
    """
    if not reads_source_more_than_once(data, columns):
        return data, None
    query_id = session.run(selection_sql(data.source, columns), "the job's rows")
    logger.info("The job's rows: query %s; every data set is cut from its result", query_id)
    return dataclasses.replace(data, source=stored_result_source(query_id)), query_id


def pin_validation_rows(
    session: SnowflakeSession, data: DataSpec, columns: ColumnSelection
) -> DataSpec:
    """A separate validation source read from one point in time when it is read twice (its
    query group sizes, then its rows): its selection runs once and both read that stored
    result, so a change in between (or SAMPLE, LIMIT) cannot cut a group across hosts."""
    if data.validation_source is None or not columns.query_group:
        return data
    selection = selection_sql(data.validation_source, columns)
    query_id = session.run(selection, "the job's validation rows")
    logger.info("The job's validation rows: query %s", query_id)
    return dataclasses.replace(data, validation_source=stored_result_source(query_id))


def submit_queries(
    session: SnowflakeSession,
    data: DataSpec,
    mode: SnapshotMode,
    recorded: ColumnSelection | None = None,
) -> QueryPlan:
    """Coordinator only: check the source, resolve the columns and submit the queries once.

    ``recorded``: the columns and encoding an earlier attempt trained with (a resumed job):
    kept as they are, so a category that appeared since is missing rather than shifting every
    later code under the checkpoint's trees.
    """
    described = session.describe(source_sql(data.source), data.source.describe())
    columns = select_columns(described, data)
    if recorded is not None:
        columns = recorded
    as_of = next((s.as_of for s in data.sources if s.as_of), None)
    started_at = session.current_time()  # for the record and the report
    data, pinned = pin_rows(session, data, columns)
    queries = job_queries(data, columns)
    if queries.validation and data.validation_source:
        session.describe(queries.validation, data.validation_source.describe() + " (validation)")
        data = pin_validation_rows(session, data, columns)
        queries = job_queries(data, columns)
    rows_sql = queries.train or selection_sql(data.source, columns)  # with folds: every row
    if recorded is None:
        columns = read_categories(session, columns, rows_sql, data.max_categories)
    group_sizes = {}
    if columns.query_group:
        group_sizes[TRAINING] = read_group_sizes(
            session, queries.train, columns.query_group, TRAINING
        )
        if queries.validation:
            group_sizes[VALIDATION] = read_group_sizes(
                session, queries.validation, columns.query_group, VALIDATION
            )
    query_ids = {}
    if queries.train:
        query_ids[TRAINING] = session.submit(queries.train, "the training query")
    if queries.validation:
        query_ids[VALIDATION] = session.submit(queries.validation, "the validation query")
    for fold, sql in enumerate(queries.folds):
        query_ids[fold_name(fold)] = session.submit(sql, f"the query of fold {fold + 1}")
    logger.info("Query ids: %s (submitted at %s)", query_ids, started_at)
    # The statement that read the tables: a resume's Time Travel reads them as it did.
    read_by = pinned or next(iter(query_ids.values()))
    snapshot = DataSnapshot(mode, query_ids, started_at, as_of, read_by)
    return QueryPlan(columns, snapshot, group_sizes)


def resume_queries(session: SnowflakeSession, data: DataSpec, record: Record) -> QueryPlan:
    """Coordinator only: the rows an earlier attempt recorded, read again as closely as can be."""
    recorded = record.snapshot
    if all(session.holds_result(query_id) for query_id in recorded.query_ids.values()):
        logger.info("Resuming on the same rows: reopening the results of %s", recorded.query_ids)
        snapshot = dataclasses.replace(recorded, mode=SnapshotMode.REOPENED)
        return QueryPlan(record.columns, snapshot, record.group_sizes)
    mode = data_snapshot.mode_when_gone(data)
    if mode == SnapshotMode.RERUN:
        logger.warning(
            "Snowflake no longer holds the results of %s: running the query again. Its rows "
            "may differ from those the checkpoint was trained on (tables are read as of %s).",
            recorded.query_ids,
            record.point,
        )
    else:
        logger.info(
            "Snowflake no longer holds the results of %s: reading the tables as of %s",
            recorded.query_ids,
            record.point,
        )
    try:
        return submit_queries(session, data.read_as_of(record.point), mode, record.columns)
    except UserError as error:
        if mode != SnapshotMode.TIME_TRAVEL:
            raise
        raise UserError(
            f"{error} Resuming needs the tables as they were at {record.point} (Time Travel "
            "keeps them for the table's DATA_RETENTION_TIME_IN_DAYS, and finds a statement by "
            "its id for 14 days): to train on the tables as they are now, empty the checkpoint "
            "location and start again."
        ) from None


def plan_queries(
    session: SnowflakeSession, data: DataSpec, record_dir: Path | None = None
) -> QueryPlan:
    """Coordinator only: submit the queries, or on resume read the recorded rows again."""
    session.check_context()
    record = data_snapshot.read_record(record_dir, data) if record_dir is not None else None
    if record is None:
        plan = submit_queries(session, data, data_snapshot.first_mode(data))
    else:
        plan = resume_queries(session, data, record)
    if record_dir is not None:
        record = Record(plan.snapshot, plan.columns, plan.group_sizes)
        data_snapshot.write_record(record_dir, data, record)
    return plan


def share_query_plan(
    hosts: Hosts,
    env: SnowflakeEnvironment,
    data: DataSpec,
    query_timeout: int,
    record_dir: Path | None = None,
) -> QueryPlan:
    """Run the planning on the coordinator; every host gets the plan or the same error."""

    def plan() -> QueryPlan:
        with open_session(env, query_timeout, keeps_queries=True) as session:
            try:
                return plan_queries(session, data, record_dir)
            except BaseException:  # SIGTERM's included: leave no statement of ours running
                session.cancel_running(session.submitted)
                raise

    return hosts.decide(plan, "planning the queries", statement_bound(query_timeout))
