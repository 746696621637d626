"""The queries of a job, decided once: the coordinator checks the source, resolves the columns,
submits each query a single time and shares the plan (query ids and columns) with every host.

The plan also fixes what every host must encode alike: each categorical column's sorted
category list and a text label's classes, read from the training rows with bounded
``SELECT DISTINCT`` statements, and, for learning to rank, the rows per query group in result
order, which the hosts cut their slices at.

Used by the training job and the public API alike.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .config import DataSpec
from .encoding import Encoding, too_many_categories
from .errors import UserError
from .host_group import HostGroup
from .queries import (
    ColumnSelection,
    distinct_count_sql,
    distinct_values_sql,
    group_sizes_sql,
    job_queries,
    select_columns,
    source_sql,
)
from .snowflake_environment import SnowflakeEnvironment
from .snowflake_session import SnowflakeSession, open_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryPlan:
    """What the coordinator decided and submitted, shared with every host."""

    columns: ColumnSelection
    train_query_id: str
    validation_query_id: str | None
    submitted_at: str | None = None  # when the coordinator submitted them (UTC, ISO 8601)
    # Rows per query group in result order, by data name ("training", "validation").
    group_sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def query_ids(self) -> dict[str, str | None]:
        return {"training": self.train_query_id, "validation": self.validation_query_id}


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


def plan_queries(session: SnowflakeSession, data: DataSpec) -> QueryPlan:
    """Coordinator only: check the source, resolve the columns and submit the queries once."""
    session.check_context()
    described = session.describe(source_sql(data.source), data.source.describe())
    columns = select_columns(described, data)
    queries = job_queries(data, columns)
    if queries.validation and data.validation_source:
        session.describe(queries.validation, data.validation_source.describe() + " (validation)")
    columns = read_categories(session, columns, queries.train, data.max_categories)
    group_sizes = {}
    if columns.group:
        group_sizes["training"] = read_group_sizes(
            session, queries.train, columns.group, "training"
        )
        if queries.validation:
            group_sizes["validation"] = read_group_sizes(
                session, queries.validation, columns.group, "validation"
            )
    submitted_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    train_id = session.submit(queries.train, "the training query")
    validation_id = None
    if queries.validation:
        validation_id = session.submit(queries.validation, "the validation query")
    logger.info("Training query id %s, validation query id %s", train_id, validation_id)
    return QueryPlan(columns, train_id, validation_id, submitted_at, group_sizes)


def share_query_plan(
    group: HostGroup, env: SnowflakeEnvironment, data: DataSpec, query_timeout: int
) -> QueryPlan:
    """Run the planning on the coordinator; every host gets the plan or the same error."""

    def plan() -> QueryPlan:
        with open_session(env, query_timeout) as session:
            return plan_queries(session, data)

    return group.decide(plan, "planning the queries")
