"""The queries of a job, decided once: the coordinator checks the source, resolves the columns,
submits each query a single time and shares the plan (query ids and columns) with every host.

Used by the training job and the public API alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from .config import DataSpec
from .host_group import HostGroup
from .queries import ColumnSelection, job_queries, select_columns, source_sql
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

    @property
    def query_ids(self) -> dict[str, str | None]:
        return {"training": self.train_query_id, "validation": self.validation_query_id}


def plan_queries(session: SnowflakeSession, data: DataSpec) -> QueryPlan:
    """Coordinator only: check the source, resolve the columns and submit the queries once."""
    session.check_context()
    described = session.describe(source_sql(data.source), data.source.describe())
    columns = select_columns(described, data)
    queries = job_queries(data, columns)
    if queries.validation and data.validation_source:
        session.describe(queries.validation, data.validation_source.describe() + " (validation)")
    submitted_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    train_id = session.submit(queries.train, "the training query")
    validation_id = None
    if queries.validation:
        validation_id = session.submit(queries.validation, "the validation query")
    logger.info("Training query id %s, validation query id %s", train_id, validation_id)
    return QueryPlan(columns, train_id, validation_id, submitted_at)


def share_query_plan(
    group: HostGroup, env: SnowflakeEnvironment, data: DataSpec, query_timeout: int
) -> QueryPlan:
    """Run the planning on the coordinator; every host gets the plan or the same error."""

    def plan() -> QueryPlan:
        with open_session(env, query_timeout) as session:
            return plan_queries(session, data)

    return group.decide(plan, "planning the queries")
