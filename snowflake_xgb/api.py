"""The public API for your own training script: Snowflake data in, a SageMaker model out.

Use it from a script run in script mode (``sagemaker_program``; see ``docs/for-other-teams.md``)
or from your own image built on ours. The job's secrets bootstrap has already put the Snowflake
credentials in the environment (``SNOWFLAKE_*``); outside script mode, the first call here runs
that bootstrap itself when ``SNOWFLAKE_SECRET_ID`` is set.

The example, run as written by the tests: ``examples/script_mode/train.py``. In short, on every
host::

    with api.join_hosts():
        data = api.load_quantile_dmatrix(query, label="MEDHOUSEVAL", validation_fraction=0.2)
        booster = xgb.train(params, data.train, 100, evals=data.evals, verbose_eval=False,
                            callbacks=[api.metric_printer()])
        api.save_model(booster, metadata=data.metadata)

Every host calls the same functions in the same order: the first host runs each query once
and shares its query id; each host then reads only its own contiguous slice of the result
(exactly once across the hosts). Loading functions take ``hosts=``; left out, they use the
hosts joined by :func:`join_hosts` (required when the job has more than one host).
Settings (``tracker_port``, ``query_timeout_seconds``, ...) are the job's settings of the same
name (``snowflake_xgb.config.settings``): an argument wins, else the job's hyperparameter, else the
default; they are checked the same way.

A :class:`UserError` (bad column, SQL error, missing secret, lost host...) carries a short
message saying what to fix; when it leaves one of these functions, it also becomes the job's
failure reason (``<output>/failure``, which SageMaker shows as the FailureReason).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pandas as pd
import pyarrow as pa
import xgboost as xgb

from . import redaction
from .boosting.callbacks import MetricPrinter
from .config import settings
from .config.job_config import (
    DOWNLOAD_SETTINGS,
    DownloadSettings,
    MatrixSettings,
    data_spec,
    hosts_settings,
)
from .credentials.bootstrap import bootstrap_credentials, remember_aws_credentials
from .credentials.snowflake_environment import (
    SECRET_ID_ENV,
    SnowflakeCredentials,
    SnowflakeEnvironment,
    variable,
)
from .data_sets import TRAIN_EVAL, VALIDATION_EVAL
from .errors import UserError
from .hosts.hosts import Hosts, statement_bound
from .loading.host_data import load_host_data, open_slice
from .loading.result_schema import one_schema
from .loading.slices import iter_arrow
from .model_files import outputs
from .model_files.columns import ColumnSelection
from .model_files.encoding import Encoding
from .query.query_plan import share_query_plan
from .query.snowflake_session import open_session
from .sagemaker import failure
from .sagemaker.job_environment import JobEnvironment, sdk_string

__all__ = [
    "Hosts",
    "TrainingData",
    "UserError",
    "iter_record_batches",
    "join_hosts",
    "load_dataframe",
    "load_quantile_dmatrix",
    "metric_printer",
    "save_model",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_ARGUMENT = "argument"
_active_hosts: ContextVar[Hosts | None] = ContextVar("snowflake_xgb_hosts", default=None)


def _reports_failure(function: Callable[P, R]) -> Callable[P, R]:
    """A UserError leaving ``function`` also becomes the job's failure reason."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except UserError as error:
            failure.record(str(error))
            raise

    return wrapper


def _job_setting(job: JobEnvironment, name: str, value: Any) -> Any:
    """An explicit argument, else the job's hyperparameter of that name, else the default."""
    if value is not None:
        return settings.parse(name, value, _ARGUMENT)
    raw = job.raw_hyperparameters.get(name)
    return settings.parse(name, sdk_string(raw) if raw is not None else None)


def _environment() -> SnowflakeEnvironment:
    """The Snowflake environment, bootstrapping the credentials from the secret if needed."""
    if not os.environ.get(variable("user")) and os.environ.get(SECRET_ID_ENV):
        bootstrap_credentials()
    env = SnowflakeEnvironment.from_environ()
    redaction.remember(env.credentials.secret_values())
    if env.credentials.is_workload_identity:
        remember_aws_credentials()
    return env


@contextmanager
def join_hosts(
    *,
    tracker_port: int | None = None,
    worker_port: int | None = None,
    host_timeout_seconds: int | None = None,
    collective_timeout_seconds: int | None = None,
) -> Iterator[Hosts]:
    """Join this job's hosts (from SageMaker's ``resourceconfig.json``) into XGBoost's collective.

    Inside the ``with`` block, ``xgb.train`` trains across all hosts and the loading functions
    share one query between them. The first host (sorted names) coordinates and runs the
    tracker on ``tracker_port``; every host listens for its peers on ``worker_port`` (0: a port
    the OS picks). Every wait is bounded: names must resolve and hosts must join
    within ``host_timeout_seconds``; each collective step fails after
    ``collective_timeout_seconds``, and a lost peer is named in the error. Left out, each
    setting comes from the job's hyperparameter of the same name, else its default. On a single
    host this joins nothing and costs nothing. Save the model inside the block: hosts leave it
    together, so none exits before the model is written.
    """
    try:
        job = JobEnvironment.from_environ()
        explicit = {
            "tracker_port": tracker_port,
            "worker_port": worker_port,
            "host_timeout_seconds": host_timeout_seconds,
            "collective_timeout_seconds": collective_timeout_seconds,
        }
        values = {name: _job_setting(job, name, value) for name, value in explicit.items()}
        with Hosts(job.hosts, job.current_host, hosts_settings(values)) as hosts:
            token = _active_hosts.set(hosts)
            try:
                with hosts.step("the training script"):
                    yield hosts
            finally:
                _active_hosts.reset(token)
    except UserError as error:
        failure.record(str(error))
        raise


def _resolve_hosts(hosts: Hosts | None) -> Hosts:
    hosts = hosts or _active_hosts.get()
    if hosts is not None:
        return hosts
    job = JobEnvironment.from_environ()
    if len(job.hosts) > 1:
        raise UserError(
            f"This job has {len(job.hosts)} hosts: load data inside "
            "`with snowflake_xgb.api.join_hosts():` so that the hosts share one query "
            "and each reads only its own rows."
        )
    return Hosts(job.hosts, job.current_host, hosts_settings({}))  # one host: never joins


def _query_timeout(value: int | None) -> int:
    return _job_setting(JobEnvironment.from_environ(), "query_timeout_seconds", value)


def _download_settings() -> DownloadSettings:
    """The job's download_threads and download_timeout_seconds hyperparameters, or defaults."""
    job = JobEnvironment.from_environ()
    return DownloadSettings(**{name: _job_setting(job, name, None) for name in DOWNLOAD_SETTINGS})


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
    """The label column (the first, for a multi-output model)."""
    labels: tuple[str, ...]
    """Every label column, in the order of the model's outputs (one for most models)."""
    rows: int
    """Training rows on this host."""
    validation_rows: int
    """Validation rows on this host."""
    total_rows: int
    """Training rows of the whole result, across every host."""
    query_ids: dict[str, str | None]
    """Snowflake query ids (``training``, ``validation``), to find the queries in Snowflake."""
    encoding: Encoding
    """How each column became a number: kinds, category lists, label classes (serving needs it)."""
    columns: ColumnSelection
    """Which columns were read, in what role, and their encoding (what ``metadata`` records)."""

    @property
    def evals(self) -> list[tuple[xgb.DMatrix, str]]:
        """``evals=`` for ``xgb.train``: ``train`` and, when present, ``validation``."""
        pairs = [(self.train, TRAIN_EVAL)]
        if self.validation is not None:
            pairs.append((self.validation, VALIDATION_EVAL))
        return pairs

    @property
    def metadata(self) -> dict[str, Any]:
        """What :func:`save_model` should record about the data (no per-host numbers)."""
        return {
            **self.columns.to_metadata(),
            "rows": self.total_rows,
            "query_ids": dict(self.query_ids),
        }


def _max_bin(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise UserError(f"Argument max_bin={value!r} must be a whole number of at least 2.")
    return value


def _sql(query: str) -> str:
    text = settings.parse("query", query, _ARGUMENT) if isinstance(query, str) else None
    if not text:
        raise UserError("query must be a SQL query, e.g. 'SELECT * FROM my_table'.")
    return text


@_reports_failure
def load_quantile_dmatrix(
    query: str,
    label: str | Sequence[str],
    *,
    features: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] = (),
    validation_query: str | None = None,
    validation_fraction: float | None = None,
    weight: str | None = None,
    query_group: str | None = None,
    categorical: str | Sequence[str] = (),
    numeric: str | Sequence[str] = (),
    max_categories: int | None = None,
    max_bin: int | None = None,
    query_timeout_seconds: int | None = None,
    hosts: Hosts | None = None,
) -> TrainingData:
    """Load this host's slice of ``query`` into an XGBoost ``QuantileDMatrix``.

    ``label`` names the label column, or several (a multi-output model: numeric labels, one
    output per label in that order); ``features`` the feature columns in order (default: every
    column but the labels and ``exclude``); each a list or a comma-separated string. Names follow
    Snowflake's rules (unquoted names match case-insensitively). Each column becomes a number
    by its type as in algorithm mode (text and boolean columns are categorical; ``categorical``
    and ``numeric`` override; ``max_categories`` bounds them; a text label is coded 0..n-1);
    NULL features are missing values, a NULL label is an error. ``weight`` names a sample
    weight column, ``query_group`` the query id column for ``rank:*`` objectives (its rows stay
    on one host). Save ``metadata`` with the model: it holds the encoding. For validation, give
    either ``validation_query`` or ``validation_fraction`` (a deterministic hash split of
    ``query``: the same rows each run). ``max_bin`` must match the ``max_bin`` training
    parameter when you set one. Batches are streamed; the whole result is never held in memory.
    """
    data = data_spec(
        {
            "query": _sql(query),
            "label": label,
            "features": features,
            "exclude": exclude,
            "validation_query": validation_query,
            "validation_fraction": validation_fraction,
            "weight": weight,
            "group": query_group,
            "categorical": categorical,
            "numeric": numeric,
            "max_categories": max_categories,
        },
        _ARGUMENT,
    )
    matrix_settings = MatrixSettings(max_bin=_max_bin(max_bin))
    timeout = _query_timeout(query_timeout_seconds)
    hosts = _resolve_hosts(hosts)
    env = _environment()
    plan = share_query_plan(hosts, env, data, timeout)
    with (
        tempfile.TemporaryDirectory(prefix="snowflake_xgb_") as work_dir,
        open_session(env, timeout) as session,
    ):
        host_data = load_host_data(
            hosts, session, plan, matrix_settings, Path(work_dir), _download_settings()
        )
    validation_slice = host_data.validation_slice
    return TrainingData(
        train=host_data.train,
        validation=host_data.validation,
        feature_names=plan.columns.features,
        label=plan.columns.label,
        labels=plan.columns.labels,
        rows=host_data.train_slice.rows.rows,
        validation_rows=validation_slice.rows.rows if validation_slice else 0,
        total_rows=host_data.train_slice.total_rows,
        query_ids=plan.query_ids,
        encoding=plan.columns.encoding,
        columns=plan.columns,
    )


def _open_query(
    query: str, query_timeout_seconds: int | None, hosts: Hosts | None
) -> tuple[Iterator[pa.Table], tuple[str, ...]]:
    """Submit ``query`` once (first host) and open this host's slice of its result."""
    sql = _sql(query)
    timeout = _query_timeout(query_timeout_seconds)
    hosts = _resolve_hosts(hosts)
    env = _environment()

    def submit() -> tuple[str, tuple[str, ...]]:
        with open_session(env, timeout, keeps_queries=True) as session:
            session.check_context()
            columns = session.describe(sql, "the query")
            return session.submit(sql, "the query"), tuple(c.name for c in columns)

    query_id, column_names = hosts.decide(submit, "submitting the query", statement_bound(timeout))

    def reopen() -> list:  # the slice is read after this session closed: renew with a new one
        with open_session(env, timeout) as session:
            return session.result_batches(query_id, "the query")

    with open_session(env, timeout) as session:
        batches, host_slice = open_slice(hosts, session, query_id, "query", reopen)
    tables = iter_arrow(batches, host_slice, settings=_download_settings())
    return one_schema(tables), column_names


@_reports_failure
def iter_record_batches(
    query: str,
    *,
    query_timeout_seconds: int | None = None,
    hosts: Hosts | None = None,
) -> Iterator[pa.RecordBatch]:
    """This host's exactly-once slice of ``query``'s result, as Arrow record batches, in order.

    The query runs once (on the first host) when this is called; the batches are downloaded
    as you iterate, only those that overlap this host's rows. Column names are Snowflake's;
    every batch has the same schema, although Snowflake chooses Arrow types chunk by chunk:
    integer NUMBER as int64 (one beyond 64 bits is refused, naming the column), scaled NUMBER
    and FLOAT as float64 (Snowflake sends scaled NUMBER as integers that the connector turns
    into float64 unless ``arrow_number_to_decimal`` is set, or a chunk as decimal128; DuckDB,
    the test stand-in, always sends decimal128), timestamps and times in microseconds (a
    timestamp's time zone kept). A host whose slice is empty gets no batches.
    """
    tables, _ = _open_query(query, query_timeout_seconds, hosts)
    return (batch for table in tables for batch in table.to_batches())


@_reports_failure
def load_dataframe(
    query: str,
    *,
    query_timeout_seconds: int | None = None,
    hosts: Hosts | None = None,
) -> pd.DataFrame:
    """This host's exactly-once slice of ``query``'s result as one pandas DataFrame.

    Convenient for small and medium results (the slice is held in memory); for training
    matrices prefer :func:`load_quantile_dmatrix`, which streams. Column types as in
    :func:`iter_record_batches` (one schema for the whole result).
    """
    tables, column_names = _open_query(query, query_timeout_seconds, hosts)
    loaded = list(tables)
    if not loaded:
        return pd.DataFrame(columns=list(column_names))
    return pa.concat_tables(loaded).to_pandas()


def metric_printer() -> xgb.callback.TrainingCallback:
    """An ``xgb.train`` callback printing ``[round]<TAB>train-rmse:...<TAB>validation-rmse:...``.

    Only on the first host (elsewhere it does nothing), in the form the SageMaker metric
    definitions of ``examples/launch_training_job.py`` parse. Pass ``verbose_eval=False`` to
    ``xgb.train``, or XGBoost prints each round a second time.
    """
    if JobEnvironment.from_environ().is_coordinator:
        return MetricPrinter()
    return xgb.callback.TrainingCallback()


@_reports_failure
def save_model(booster: xgb.Booster, metadata: dict[str, Any] | None = None) -> Path | None:
    """Write ``<model dir>/xgboost-model`` and ``metadata.json``, on the first host only.

    Returns the model's path on the first host and ``None`` on the others (SageMaker uploads
    the first host's model folder; its local mode shares one folder between hosts).
    ``metadata`` (JSON-serialisable) is recorded with the feature names, the rounds and the
    library versions; it must not contain a credential. Call it inside ``join_hosts()``:
    hosts leave together, so none exits before the model is written (SageMaker's
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
    with suppress(UserError):  # credentials from the environment, when there are any
        redaction.remember(SnowflakeCredentials.from_environ().secret_values())
    if redaction.contains_secret(text):
        raise UserError(
            "The model metadata contains a Snowflake credential: remove it from metadata."
        )
    path = outputs.save_model(job.model_dir, booster, json.loads(text))
    logger.info("Model written to %s", path)
    return path
