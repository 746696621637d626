"""The public API for your own training script: Snowflake data in, a SageMaker model out.

Use it from a script run in script mode (``sagemaker_program``; see ``docs/for-other-teams.md``)
or from your own image built on ours. The job's secrets bootstrap has already put the Snowflake
credentials in the environment (``SNOWFLAKE_*``); outside script mode, the first call here runs
that bootstrap itself when ``SNOWFLAKE_SECRET_ID`` is set.

A distributed script, on every host::

    import xgboost as xgb
    from snowflake_xgb import api

    with api.join_host_group():
        data = api.load_quantile_dmatrix(
            "SELECT * FROM DEMO.PUBLIC.CALIFORNIA_HOUSING", label="MEDHOUSEVAL",
            validation_fraction=0.2,
        )
        booster = xgb.train(params, data.train, 100, evals=data.evals,
                            callbacks=[api.metric_printer()])
    api.save_model(booster, metadata=data.metadata)

Every host calls the same functions in the same order: the first host runs each query once
and shares its query id; each host then reads only its own contiguous slice of the result
(exactly once across the hosts). Loading functions take ``group=``; left out, they use the
group joined by :func:`join_host_group` (required when the job has more than one host).

A :class:`UserError` (bad column, SQL error, missing secret, lost host...) carries a short
message saying what to fix; when it leaves one of these functions, it also becomes the job's
failure reason (``<output>/failure``, which SageMaker shows as the FailureReason).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pandas as pd
import pyarrow as pa
import xgboost as xgb

from . import outputs
from .config import JobConfig, Source, validate_column_name
from .credentials import (
    MIN_SECRET_LENGTH,
    SECRET_ID_ENV,
    SnowflakeCredentials,
    bootstrap_credentials,
)
from .errors import UserError
from .host_group import HostGroup
from .job_environment import JobEnvironment
from .loading import HostSlice, iter_arrow
from .snowflake_session import open_session
from .training import MetricPrinter, load_host_data, share_query_plan

__all__ = [
    "HostGroup",
    "TrainingData",
    "UserError",
    "iter_record_batches",
    "join_host_group",
    "load_dataframe",
    "load_quantile_dmatrix",
    "metric_printer",
    "save_model",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# The algorithm mode's defaults (JobConfig), and the same hyperparameter names to override them.
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(JobConfig)}
_GROUP_SETTINGS = ("tracker_port", "host_timeout_seconds", "collective_timeout_seconds")

_active_group: ContextVar[HostGroup | None] = ContextVar("snowflake_xgb_host_group", default=None)


def _record_failure(error: UserError) -> None:
    """Make ``error`` the job's failure reason, unless an earlier one is recorded already."""
    try:
        failure_file = JobEnvironment.from_environ().failure_file
        failure_file.parent.mkdir(parents=True, exist_ok=True)
        with failure_file.open("x") as f:
            f.write(str(error))
    except OSError:
        pass  # exists already (first reason wins), or no writable output folder


def _reports_failure(function: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except UserError as error:
            _record_failure(error)
            raise

    return wrapper


def _setting(job: JobEnvironment, name: str, value: int | None) -> int:
    """An explicit argument, else the job's hyperparameter of that name, else the default."""
    if value is not None:
        return int(value)
    raw = job.raw_hyperparameters.get(name)
    if raw is None:
        return int(_DEFAULTS[name])
    try:
        return int(json.loads(raw) if raw.startswith('"') else raw)
    except ValueError:
        raise UserError(f"Hyperparameter {name} must be a whole number, got {raw!r}.") from None


def _credentials() -> SnowflakeCredentials:
    if not os.environ.get("SNOWFLAKE_USER") and os.environ.get(SECRET_ID_ENV):
        return bootstrap_credentials()
    return SnowflakeCredentials.from_environ()


@contextmanager
def join_host_group(
    *,
    tracker_port: int | None = None,
    host_timeout_seconds: int | None = None,
    collective_timeout_seconds: int | None = None,
) -> Iterator[HostGroup]:
    """Join this job's hosts (from SageMaker's ``resourceconfig.json``) into XGBoost's collective.

    Inside the ``with`` block, ``xgb.train`` trains across all hosts and the loading functions
    share one query between them. The first host (sorted names) coordinates and runs the
    tracker on ``tracker_port``. Every wait is bounded: names must resolve and hosts must join
    within ``host_timeout_seconds``; each collective step fails after
    ``collective_timeout_seconds``, and a lost peer is named in the error. Left out, each
    setting comes from the job's hyperparameter of the same name, else the algorithm mode's
    default (9099, 600, 120). On a single host this joins nothing and costs nothing.
    """
    try:
        job = JobEnvironment.from_environ()
        group = HostGroup(
            job.hosts,
            job.current_host,
            _setting(job, "tracker_port", tracker_port),
            _setting(job, "host_timeout_seconds", host_timeout_seconds),
            _setting(job, "collective_timeout_seconds", collective_timeout_seconds),
        )
        with group:
            token = _active_group.set(group)
            try:
                yield group
            except xgb.core.XGBoostError as error:
                if group.is_distributed:
                    raise group.explain_collective_failure(error, "the training script") from None
                raise
            finally:
                _active_group.reset(token)
    except UserError as error:
        _record_failure(error)
        raise


def _resolve_group(group: HostGroup | None) -> HostGroup:
    group = group or _active_group.get()
    if group is not None:
        return group
    job = JobEnvironment.from_environ()
    if len(job.hosts) > 1:
        raise UserError(
            f"This job has {len(job.hosts)} hosts: load data inside "
            "`with snowflake_xgb.api.join_host_group():` so that the hosts share one query "
            "and each reads only its own rows."
        )
    return HostGroup(job.hosts, job.current_host, 0, 1, 1)  # one host: never joins


def _query_timeout(value: int | None) -> int:
    if value is not None:
        return int(value)
    return _setting(JobEnvironment.from_environ(), "query_timeout_seconds", None)


def _query_source(query: str, argument: str) -> Source:
    text = query.strip().rstrip(";").strip() if isinstance(query, str) else ""
    if not text:
        raise UserError(f"{argument} must be a SQL query, e.g. 'SELECT * FROM my_table'.")
    return Source(query=text)


@dataclass(frozen=True)
class TrainingData:
    """This host's matrices, built from its exactly-once slice of each result."""

    train: xgb.DMatrix
    """The training matrix (a ``QuantileDMatrix``)."""
    validation: xgb.DMatrix | None
    """The validation matrix (sharing the training matrix's quantile cuts), if asked for."""
    feature_names: tuple[str, ...]
    """The feature columns, in matrix order (Snowflake's names)."""
    label: str
    rows: int
    """Training rows on this host."""
    validation_rows: int
    """Validation rows on this host."""
    total_rows: int
    """Training rows of the whole result, across every host."""
    query_ids: dict[str, str | None]
    """Snowflake query ids (``training``, ``validation``), to find the queries in Snowflake."""

    @property
    def evals(self) -> list[tuple[xgb.DMatrix, str]]:
        """``evals=`` for ``xgb.train``: ``train`` and, when present, ``validation``."""
        pairs = [(self.train, "train")]
        if self.validation is not None:
            pairs.append((self.validation, "validation"))
        return pairs

    @property
    def metadata(self) -> dict[str, Any]:
        """What :func:`save_model` should record about the data (no per-host numbers)."""
        return {
            "feature_names": list(self.feature_names),
            "label": self.label,
            "rows": self.total_rows,
            "query_ids": dict(self.query_ids),
        }


@_reports_failure
def load_quantile_dmatrix(
    query: str,
    label: str,
    *,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    validation_query: str | None = None,
    validation_fraction: float | None = None,
    max_bin: int | None = None,
    query_timeout_seconds: int | None = None,
    group: HostGroup | None = None,
) -> TrainingData:
    """Load this host's slice of ``query`` into an XGBoost ``QuantileDMatrix``.

    ``label`` names the label column; ``features`` the feature columns in order (default: every
    column but the label and ``exclude``). Names follow Snowflake's rules (unquoted names match
    case-insensitively). Feature and label columns must be numeric; NULL features are missing
    values, a NULL label is an error. For validation, give either ``validation_query`` or
    ``validation_fraction`` (a deterministic hash split of ``query``: the same rows each run).
    ``max_bin`` must match the ``max_bin`` training parameter when you set one. Batches are
    streamed one at a time; the whole result is never held in memory.
    """
    for column in (label, *(features or ()), *exclude):
        validate_column_name(column, "column")
    if validation_query is not None and validation_fraction is not None:
        raise UserError("Give either validation_query or validation_fraction, not both.")
    if validation_fraction is not None and not 0.0 < validation_fraction < 1.0:
        raise UserError(
            f"validation_fraction must be between 0 and 1 (exclusive), got {validation_fraction}."
        )
    config = JobConfig(
        source=_query_source(query, "query"),
        label=label,
        num_round=1,
        features=tuple(features or ()),
        exclude=tuple(exclude),
        validation_source=(
            _query_source(validation_query, "validation_query") if validation_query else None
        ),
        validation_fraction=validation_fraction,
        query_timeout_seconds=_query_timeout(query_timeout_seconds),
        xgboost_params={"max_bin": int(max_bin)} if max_bin is not None else {},
    )
    group = _resolve_group(group)
    credentials = _credentials()
    plan = share_query_plan(group, credentials, config)
    with (
        tempfile.TemporaryDirectory(prefix="snowflake_xgb_") as work_dir,
        open_session(credentials, config.query_timeout_seconds) as session,
    ):
        data = load_host_data(group, session, plan, config, Path(work_dir))
    return TrainingData(
        train=data.train,
        validation=data.validation,
        feature_names=plan.columns.features,
        label=plan.columns.label,
        rows=data.train_slice.rows.rows,
        validation_rows=data.validation_slice.rows.rows if data.validation_slice else 0,
        total_rows=data.train_slice.total_rows,
        query_ids={"training": plan.train_query_id, "validation": plan.validation_query_id},
    )


@dataclass(frozen=True)
class _OpenSlice:
    batches: list
    host_slice: HostSlice
    column_names: tuple[str, ...]


def _open_slice(
    query: str, query_timeout_seconds: int | None, group: HostGroup | None
) -> _OpenSlice:
    source = _query_source(query, "query")
    timeout = _query_timeout(query_timeout_seconds)
    group = _resolve_group(group)
    credentials = _credentials()

    def submit() -> tuple[str, tuple[str, ...]]:
        with open_session(credentials, timeout) as session:
            session.check_context()
            columns = session.describe(source.query, "the query")
            return session.submit(source.query, "the query"), tuple(c.name for c in columns)

    query_id, column_names = group.decide(submit, "submitting the query")
    with open_session(credentials, timeout) as session:
        batches = session.result_batches(query_id, "the query")
    host_slice = HostSlice.plan("query", query_id, batches, group.rank, group.world)
    logger.info(
        "query %s: %s rows in %d batch(es); this host reads rows [%d, %d)",
        query_id, f"{host_slice.total_rows:,}", len(batches),
        host_slice.rows.start, host_slice.rows.end,
    )  # fmt: skip
    return _OpenSlice(batches, host_slice, column_names)


@_reports_failure
def iter_record_batches(
    query: str,
    *,
    query_timeout_seconds: int | None = None,
    group: HostGroup | None = None,
) -> Iterator[pa.RecordBatch]:
    """This host's exactly-once slice of ``query``'s result, as Arrow record batches, in order.

    The query runs once (on the first host) when this is called; the batches are downloaded
    as you iterate, one at a time, only those that overlap this host's rows. Column names and
    types are Snowflake's (NUMBER with a scale arrives as Arrow decimal; cast in SQL to FLOAT
    for floats). A host whose slice is empty gets no batches.
    """
    opened = _open_slice(query, query_timeout_seconds, group)

    def batches() -> Iterator[pa.RecordBatch]:
        for table in iter_arrow(opened.batches, opened.host_slice):
            yield from table.to_batches()

    return batches()


@_reports_failure
def load_dataframe(
    query: str,
    *,
    query_timeout_seconds: int | None = None,
    group: HostGroup | None = None,
) -> pd.DataFrame:
    """This host's exactly-once slice of ``query``'s result as one pandas DataFrame.

    Convenient for small and medium results (the slice is held in memory); for training
    matrices prefer :func:`load_quantile_dmatrix`, which streams.
    """
    opened = _open_slice(query, query_timeout_seconds, group)
    tables = list(iter_arrow(opened.batches, opened.host_slice))
    if not tables:
        return pd.DataFrame(columns=list(opened.column_names))
    return pa.concat_tables(tables).to_pandas()


def metric_printer() -> xgb.callback.TrainingCallback:
    """An ``xgb.train`` callback printing ``[round]<TAB>train-rmse:...<TAB>validation-rmse:...``.

    Only on the first host (elsewhere it does nothing), in the form the SageMaker metric
    definitions of ``examples/launch_training_job.py`` parse.
    """
    if JobEnvironment.from_environ().is_coordinator:
        return MetricPrinter()
    return xgb.callback.TrainingCallback()


@_reports_failure
def save_model(booster: xgb.Booster, metadata: dict[str, Any] | None = None) -> Path | None:
    """Write ``<model dir>/xgboost-model`` and ``metadata.json``, on the first host only.

    Returns the model's path on the first host and ``None`` on the others (SageMaker uploads
    the first host's model folder; its local mode shares one folder between hosts). The model
    is XGBoost's native format, the one SageMaker's XGBoost inference container loads.
    ``metadata`` (JSON-serialisable) is recorded with the feature names, the rounds and the
    library versions; it must not contain a credential. Call it inside ``join_host_group()``:
    hosts leave the group together, so none exits before the model is written (SageMaker's
    local mode stops every host as soon as one exits).
    """
    job = JobEnvironment.from_environ()
    if not job.is_coordinator:
        return None
    document = {
        "feature_names": list(booster.feature_names or []),
        "rounds_trained": booster.num_boosted_rounds(),
        **(metadata or {}),
    }
    text = json.dumps(document, default=str)
    secrets: list[str] = []
    with contextlib.suppress(UserError):  # no credentials in the environment: nothing to leak
        secrets = SnowflakeCredentials.from_environ().secret_values()
    if any(value in text for value in secrets if len(value) >= MIN_SECRET_LENGTH):
        raise UserError(
            "The model metadata contains a Snowflake credential: remove it from metadata."
        )
    path = outputs.save_model(job.model_dir, booster, json.loads(text))
    logger.info("Model written to %s", path)
    return path
