"""This host's data: its exactly-once slice of each planned result, as XGBoost matrices.

Every host reads the results the coordinator submitted (``query_plan``) by their ids, checks
that every host sees the same chunk list (one allgather), plans its slice of each
(``sharding``) and streams it into a matrix (``loading``). With
cross-validation, each host reads its slice of every fold once (``FoldData``). Used by the
training job and the public API alike.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xgboost as xgb

from ..config.job_config import DownloadSettings, MatrixSettings
from ..data_sets import TRAINING, VALIDATION
from ..errors import UserError
from ..hosts.hosts import Hosts, WorkBound, statement_bound
from ..query.query_plan import QueryPlan
from ..query.snowflake_session import SnowflakeSession
from ..sagemaker import failure
from .blocks import QueryGroups
from .downloads import ResultBatches, longest_chunk_seconds
from .matrices import FoldCache, LoadingWaits, build_matrix
from .slices import HostSlice, iter_arrow

logger = logging.getLogger(__name__)


class LoadedData(Protocol):
    """This host's loaded data, as the training job uses it: ``HostData`` (a training and a
    validation set) or ``FoldData`` (cross-validation's folds)."""

    @property
    def load_seconds(self) -> dict[str, float]:
        """Seconds to read and build each data set, by name."""
        ...

    @property
    def training_sets(self) -> tuple[str, ...]:
        """The data sets the model trains on."""
        ...

    def named_slices(self) -> dict[str, HostSlice]:
        """This host's slice of each data set, by name."""
        ...

    def shard_report(self) -> dict[str, Any]:
        """Which rows of which result this host read (``shard-<host>.json``)."""
        ...

    def fold_matrices(
        self, matrix_settings: MatrixSettings
    ) -> list[tuple[xgb.DMatrix, xgb.DMatrix]]:
        """(training, validation) of each cross-validation fold; none without folds."""
        ...

    def model_matrices(
        self, matrix_settings: MatrixSettings
    ) -> tuple[xgb.DMatrix, xgb.DMatrix | None]:
        """The matrices the model trains on and is validated on (None: no validation set)."""
        ...


@dataclass
class HostData:
    """This host's matrices and the slices they were built from (a ``LoadedData``)."""

    train: xgb.DMatrix
    train_slice: HostSlice
    validation: xgb.DMatrix | None
    validation_slice: HostSlice | None
    load_seconds: dict[str, float] = field(default_factory=dict)  # per data set: list + build
    # The query groups this host read, by data name (learning to rank only).
    groups: dict[str, QueryGroups] = field(default_factory=dict)

    @property
    def training_sets(self) -> tuple[str, ...]:
        """The data sets the model trains on."""
        return (TRAINING,)

    def named_slices(self) -> dict[str, HostSlice]:
        """This host's slice of each data set, by name."""
        slices = {TRAINING: self.train_slice}
        if self.validation_slice is not None:
            slices[VALIDATION] = self.validation_slice
        return slices

    def shard_report(self) -> dict[str, Any]:
        """Which rows of which result this host read (``shard-<host>.json``)."""
        report = _slice_report(self.train_slice, self.groups.get(TRAINING))
        if self.validation_slice is not None:
            report[VALIDATION] = _slice_report(self.validation_slice, self.groups.get(VALIDATION))
        return report

    def fold_matrices(
        self, matrix_settings: MatrixSettings
    ) -> list[tuple[xgb.DMatrix, xgb.DMatrix]]:
        return []  # a training and a validation set: no folds

    def model_matrices(
        self, matrix_settings: MatrixSettings
    ) -> tuple[xgb.DMatrix, xgb.DMatrix | None]:
        """Built while loading: the training matrix, and the validation one when there is one."""
        return self.train, self.validation


@dataclass
class FoldData:
    """This host's slice of each cross-validation fold, cached locally; matrices on demand
    (a ``LoadedData``)."""

    fold_slices: list[HostSlice]
    cache: FoldCache

    @property
    def load_seconds(self) -> dict[str, float]:
        return self.cache.load_seconds

    @property
    def training_sets(self) -> tuple[str, ...]:
        """The final model trains on every fold."""
        return tuple(s.name for s in self.fold_slices)

    def named_slices(self) -> dict[str, HostSlice]:
        return {s.name: s for s in self.fold_slices}

    def shard_report(self) -> dict[str, Any]:
        rows = sum(s.rows.rows for s in self.fold_slices)
        return {"rows": rows, "folds": {s.name: _slice_report(s, None) for s in self.fold_slices}}

    def fold_matrices(
        self, matrix_settings: MatrixSettings
    ) -> list[tuple[xgb.DMatrix, xgb.DMatrix]]:
        """(training, validation) of each fold: all other folds' rows, and the fold's own."""
        folds = range(len(self.fold_slices))
        matrices = []
        for fold in folds:
            name = self.fold_slices[fold].name
            others = [f for f in folds if f != fold]
            train = self.cache.matrix(others, f"{name}-train", matrix_settings)
            validation = self.cache.matrix(
                [fold], f"{name}-validation", matrix_settings, reference=train
            )
            matrices.append((train, validation))
        return matrices

    def model_matrices(
        self, matrix_settings: MatrixSettings
    ) -> tuple[xgb.DMatrix, xgb.DMatrix | None]:
        """Every fold's rows, no validation set: the final model's matrix. The fold cache is
        closed after it is built (the folds' own matrices are no longer needed)."""
        train = self.cache.matrix(range(len(self.fold_slices)), "all-folds", matrix_settings)
        self.close()
        return train, None

    def close(self) -> None:
        self.cache.close()


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


def chunk_list_fingerprint(row_counts: Sequence[int]) -> int:
    """A number that differs, but for a 2**-48 chance, between two different chunk lists (count
    and rows per chunk); exact in a float64, so one allgather compares every host's."""
    digest = hashlib.sha256(",".join(str(int(n)) for n in row_counts).encode()).digest()
    return int.from_bytes(digest[:6], "big")


def loading_waits(hosts: Hosts, name: str, downloads: DownloadSettings) -> LoadingWaits | None:
    """How a host loading ``name`` keeps the others informed: each chunk it reads is a unit of
    work, and the hosts meet inside the matrix build, each wait bounded by the download bound
    counted from the last chunk a host read (before the first block too: by then every host is
    done with its statements and downloads). None for a single host: nobody waits."""
    if not hosts.is_distributed:
        return None
    bound = WorkBound(longest_chunk_seconds(downloads), "download_timeout_seconds")

    def meet(point: str) -> None:
        try:
            hosts.wait_for_hosts(f"{point} of loading {name} data", bound)
        except UserError as error:
            # Raised inside XGBoost's matrix build, it would not stop it: XGBoost takes a
            # failed ``next`` for the end of the data and waits for the missing hosts in its
            # next collective step, for the whole collective timeout.
            failure.abort(str(error))

    return LoadingWaits(work_done=hosts.note_work_done, meet=meet)


def check_same_chunk_list(hosts: Hosts, query_id: str, row_counts: Sequence[int]) -> None:
    """Fail loudly unless every host listed the same chunks for ``query_id``.

    Slices are cut at row positions, so hosts that saw different chunk lists would read some
    rows twice and others never.
    """
    fingerprints = hosts.gather(float(chunk_list_fingerprint(row_counts)))
    if len(set(fingerprints)) > 1:
        differing = [rank for rank, f in enumerate(fingerprints) if f != fingerprints[0]]
        raise UserError(
            f"The hosts see different chunk lists for the result of query {query_id} (hosts "
            f"{differing} differ from host 0; this host: {len(row_counts)} chunks, "
            f"{sum(row_counts):,} rows): Snowflake must hand every session the same stored "
            "result. Run the job again; if it recurs, report it with the query id."
        )


def open_slice(
    hosts: Hosts,
    session: SnowflakeSession,
    query_id: str,
    name: str,
    reopen: Callable[[], list] | None = None,
    group_sizes: Sequence[int] | None = None,
) -> tuple[ResultBatches, HostSlice]:
    """Read a result by id and plan this host's slice of it (nothing is downloaded yet);
    with ``group_sizes`` the slice holds whole query groups.

    When their URLs must be renewed, the batches call ``reopen`` (default: read the result by
    id through ``session`` again, which must then stay open while they are downloaded).
    """
    what = f"the {name} query"
    batches = session.result_batches(query_id, what)
    hosts.wait_for_hosts(f"the result of {what}", statement_bound(session.query_timeout))
    check_same_chunk_list(hosts, query_id, [batch.rowcount for batch in batches])
    if reopen is None:

        def reopen() -> list:
            return session.result_batches(query_id, what)

    host_slice = HostSlice.plan(name, query_id, batches, hosts.rank, hosts.world, group_sizes)
    logger.info(
        "%s data: query %s: %s rows in %d batch(es); this host reads rows [%d, %d)",
        name,
        query_id,
        f"{host_slice.total_rows:,}",
        len(batches),
        host_slice.rows.start,
        host_slice.rows.end,
    )
    return ResultBatches(query_id, batches, reopen), host_slice


def load_host_data(
    hosts: Hosts,
    session: SnowflakeSession,
    plan: QueryPlan,
    matrix_settings: MatrixSettings,
    work_dir: Path,
    downloads: DownloadSettings,
) -> HostData:
    """Read this host's exact slice of each result into XGBoost matrices."""

    load_seconds: dict[str, float] = {}
    groups: dict[str, QueryGroups] = {}

    def load(query_id: str, name: str, reference: xgb.DMatrix | None) -> tuple:
        started = time.monotonic()
        sizes = plan.group_sizes.get(name)
        batches, host_slice = open_slice(hosts, session, query_id, name, group_sizes=sizes)
        if sizes is not None:
            groups[name] = QueryGroups()
        if host_slice.total_rows == 0:
            raise UserError(
                f"The {name} query returned no rows: check the table, the query's filters and "
                "the role's row access policies (and validation_fraction on small tables)."
            )
        with hosts.step(f"Loading {name} data"):
            built = build_matrix(
                lambda: iter_arrow(batches, host_slice, plan.columns.all, downloads),
                plan.columns,
                name,
                matrix_settings,
                work_dir,
                reference,
                groups.get(name),
                loading_waits(hosts, name, downloads),
            )
        load_seconds[name] = time.monotonic() - started
        return built, host_slice

    if plan.train_query_id is None:
        raise ValueError("a cross-validation plan has fold queries: use load_fold_data")
    train, train_slice = load(plan.train_query_id, TRAINING, None)
    validation, validation_slice = None, None
    if plan.validation_query_id:
        validation, validation_slice = load(plan.validation_query_id, VALIDATION, train)
    return HostData(train, train_slice, validation, validation_slice, load_seconds, groups)


def check_binary_labels(
    hosts: Hosts, matrices: Sequence[xgb.DMatrix], labels: Sequence[str]
) -> None:
    """Several labels of a classifier: each 0 or 1 on every row of every host. One sum over
    the hosts, so every host refuses the same data with the same message."""
    wrong = np.zeros(len(labels), dtype=np.float64)
    for matrix in matrices:
        values = matrix.get_label().reshape(-1, len(labels))
        wrong += ((values != 0) & (values != 1)).sum(axis=0)
    wrong = hosts.sum(wrong)
    if wrong.any():
        counts = zip(labels, wrong, strict=True)
        named = ", ".join(f"{label} ({int(n)} rows)" for label, n in counts if n)
        raise UserError(
            f"Labels {named} hold values other than 0 and 1: with several labels, "
            "binary:logistic learns one yes/no per label; make each label 0/1 in your query "
            "(e.g. IFF(x > 0, 1, 0)), or use a reg:* objective for numbers."
        )


def load_fold_data(
    hosts: Hosts,
    session: SnowflakeSession,
    plan: QueryPlan,
    work_dir: Path,
    downloads: DownloadSettings,
) -> FoldData:
    """Read this host's exact slice of each fold's result once, into a local cache."""
    opened = [
        open_slice(hosts, session, query_id, name) for name, query_id in plan.query_ids.items()
    ]
    for _, host_slice in opened:
        if host_slice.total_rows == 0:
            raise UserError(
                f"Cross-validation {host_slice.name} has no rows: the table has too few rows "
                "for this many folds (cv_folds), or the query's filters leave none."
            )
    with hosts.step("Loading the folds"):
        cache = FoldCache(
            [
                lambda b=batches, s=host_slice: iter_arrow(b, s, plan.columns.all, downloads)
                for batches, host_slice in opened
            ],
            [host_slice.name for _, host_slice in opened],
            plan.columns,
            work_dir,
            loading_waits(hosts, "the folds'", downloads),
        )
    return FoldData([host_slice for _, host_slice in opened], cache)
