"""This host's data: its exactly-once slice of each planned result, as XGBoost matrices.

Every host reopens the results the coordinator submitted (``query_plan``) by their ids, plans
its slice of each (``sharding``) and streams it into a matrix (``loading``). Used by the
training job and the public API alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import xgboost as xgb

from .config import DownloadSettings
from .downloads import ResultBatches
from .errors import UserError
from .host_group import HostGroup
from .loading import HostSlice, QueryGroups, build_matrix, iter_arrow
from .query_plan import QueryPlan
from .snowflake_session import SnowflakeSession

logger = logging.getLogger(__name__)


@dataclass
class HostData:
    """This host's matrices and the slices they were built from."""

    train: xgb.DMatrix
    train_slice: HostSlice
    validation: xgb.DMatrix | None
    validation_slice: HostSlice | None
    load_seconds: dict[str, float] = field(default_factory=dict)  # per data set: list + build
    # The query groups this host read, by data name (learning to rank only).
    groups: dict[str, QueryGroups] = field(default_factory=dict)

    def shard_report(self) -> dict[str, Any]:
        """Which rows of which result this host read (``shard-<host>.json``)."""
        report = _slice_report(self.train_slice, self.groups.get("training"))
        if self.validation_slice is not None:
            report["validation"] = _slice_report(
                self.validation_slice, self.groups.get("validation")
            )
        return report


def _json_value(value: Any) -> Any:
    """A group id as JSON: numbers and text as they are, anything else (dates) as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value if isinstance(value, int | float | str | None) else str(value)


def _slice_report(host_slice: HostSlice, groups: QueryGroups | None) -> dict[str, Any]:
    report = {
        "row_start": host_slice.rows.start,
        "row_end": host_slice.rows.end,
        "rows": host_slice.rows.rows,
        "total_rows": host_slice.total_rows,
        "query_id": host_slice.query_id,
    }
    if groups is not None:  # read from the data: no group id appears on two hosts
        report["groups"] = {
            "count": groups.count,
            "first": _json_value(groups.first),
            "last": _json_value(groups.last),
        }
    return report


def open_slice(
    group: HostGroup,
    session: SnowflakeSession,
    query_id: str,
    name: str,
    reopen: Callable[[], list] | None = None,
    group_sizes: Sequence[int] | None = None,
) -> tuple[ResultBatches, HostSlice]:
    """Reopen a result by id and plan this host's slice of it (nothing is downloaded yet);
    with ``group_sizes`` the slice holds whole query groups.

    When their URLs must be renewed, the batches call ``reopen`` (default: reopen the result
    through ``session`` again, which must then stay open while they are downloaded).
    """
    what = f"the {name} query"
    batches = session.result_batches(query_id, what)
    if reopen is None:

        def reopen() -> list:
            return session.result_batches(query_id, what)

    host_slice = HostSlice.plan(name, query_id, batches, group.rank, group.world, group_sizes)
    logger.info(
        "%s data: query %s: %s rows in %d batch(es); this host reads rows [%d, %d)",
        name, query_id, f"{host_slice.total_rows:,}", len(batches),
        host_slice.rows.start, host_slice.rows.end,
    )  # fmt: skip
    return ResultBatches(query_id, batches, reopen), host_slice


def load_host_data(
    group: HostGroup,
    session: SnowflakeSession,
    plan: QueryPlan,
    xgboost_params: dict[str, Any],
    external_memory: bool,
    work_dir: Path,
    downloads: DownloadSettings,
) -> HostData:
    """Read this host's exact slice of each result into XGBoost matrices."""

    load_seconds: dict[str, float] = {}
    groups: dict[str, QueryGroups] = {}

    def load(query_id: str, name: str, reference: xgb.DMatrix | None) -> tuple:
        started = time.monotonic()
        sizes = plan.group_sizes.get(name)
        batches, host_slice = open_slice(group, session, query_id, name, group_sizes=sizes)
        if sizes is not None:
            groups[name] = QueryGroups()
        if host_slice.total_rows == 0:
            raise UserError(
                f"The {name} query returned no rows: check the table, the query's filters and "
                "the role's row access policies (and validation_fraction on small tables)."
            )
        with group.step(f"Loading {name} data"):
            matrix = build_matrix(
                lambda: iter_arrow(batches, host_slice, plan.columns.all, downloads),
                plan.columns, name, xgboost_params, work_dir, external_memory, reference,
                groups.get(name),
            )  # fmt: skip
        load_seconds[name] = time.monotonic() - started
        return matrix, host_slice

    train, train_slice = load(plan.train_query_id, "training", None)
    validation, validation_slice = None, None
    if plan.validation_query_id:
        validation, validation_slice = load(plan.validation_query_id, "validation", train)
    return HostData(train, train_slice, validation, validation_slice, load_seconds, groups)
