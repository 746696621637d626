"""Validated settings: what data to read (:class:`DataSpec`) and how to train (:class:`JobConfig`).

Values are parsed by the settings table (``settings``); this module checks how they fit
together (a table or a query, not both; early stopping needs validation data) and builds the
objects the job and the public API pass on. It does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..errors import UserError
from ..identifiers import stored_name
from ..model_files.aws_model_format import ModelFormat, check_aws_images, check_single_output
from ..redaction import refuse_credential_names
from . import settings


@dataclass(frozen=True)
class Source:
    """Where rows come from: a (qualified) table name or the user's own SELECT.

    ``as_of`` (a query id or an ISO 8601 time, tables only) reads the table as it was then
    (Snowflake's Time Travel).
    """

    table: str | None = None
    query: str | None = None
    as_of: str | None = None

    def describe(self) -> str:
        if not self.table:
            return "the query"
        return f"table {self.table}" + (f" as of {self.as_of}" if self.as_of else "")

    def read_as_of(self, point: str) -> Source:
        """This source as it was at ``point``: a table through Time Travel; a query as it is."""
        return replace(self, as_of=point) if self.table else self


@dataclass(frozen=True)
class DataSpec:
    """What data to read: the source, the columns and the validation rows."""

    source: Source
    label: str
    # More label columns: a multi-output model (one output per label, in this order).
    extra_labels: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    validation_source: Source | None = None
    validation_fraction: float | None = None
    cv_folds: int | None = None
    weight: str | None = None
    query_group: str | None = None  # the ``group`` setting: ranking's query id column
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    max_categories: int = settings.BY_NAME["max_categories"].default

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.extra_labels)

    @property
    def has_validation(self) -> bool:
        return self.validation_source is not None or self.validation_fraction is not None

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(s for s in (self.source, self.validation_source) if s is not None)

    def read_as_of(self, point: str) -> DataSpec:
        """The same rows as they were at ``point``: tables through Time Travel (``Source``)."""
        validation = self.validation_source
        return replace(
            self,
            source=self.source.read_as_of(point),
            validation_source=validation.read_as_of(point) if validation else None,
        )


@dataclass(frozen=True)
class HostsSettings:
    """How long the hosts wait for each other, where the first host's tracker listens, and
    which port each host listens on for its peers (0: one the OS picks)."""

    tracker_port: int = settings.BY_NAME["tracker_port"].default
    host_timeout_seconds: int = settings.BY_NAME["host_timeout_seconds"].default
    collective_timeout_seconds: int = settings.BY_NAME["collective_timeout_seconds"].default
    worker_port: int = settings.BY_NAME["worker_port"].default

    @property
    def liveness_port(self) -> int:
        """Every host answers its peers' liveness probes here, beside the tracker's port."""
        return self.tracker_port + 1

    def __post_init__(self) -> None:
        if self.worker_port in (self.tracker_port, self.liveness_port):
            raise UserError(
                f"worker_port={self.worker_port} is taken by the tracker (tracker_port="
                f"{self.tracker_port}) or the liveness probes ({self.liveness_port}): choose "
                "another port, or 0 for one the OS picks."
            )


@dataclass(frozen=True)
class DownloadSettings:
    """How each host downloads its result chunks: how many at once, and the bound on each."""

    download_threads: int = settings.BY_NAME["download_threads"].default
    download_timeout_seconds: int = settings.BY_NAME["download_timeout_seconds"].default


class MatrixKind(StrEnum):
    """Which XGBoost matrix the hosts build: ``QuantileDMatrix``; ``ExtMemQuantileDMatrix``
    (external memory); a plain ``DMatrix`` for the exact and approx tree methods and gblinear."""

    QUANTILE = "quantile"
    EXTERNAL = "external"
    DMATRIX = "dmatrix"


@dataclass(frozen=True)
class MatrixSettings:
    """Which XGBoost matrix the hosts build, and the ``max_bin`` a quantized one is cut with."""

    kind: MatrixKind = MatrixKind.QUANTILE
    max_bin: int | None = None


def matrix_settings_for(xgboost_params: Mapping[str, Any], external_memory: bool) -> MatrixSettings:
    """The matrix the chosen tree method and booster can train on; refused before any query."""
    tree_method = str(xgboost_params.get("tree_method", "hist")).lower()
    booster = str(xgboost_params.get("booster", "gbtree")).lower()
    max_bin = int(xgboost_params["max_bin"]) if "max_bin" in xgboost_params else None
    if tree_method in ("hist", "auto") and booster != "gblinear":
        kind = MatrixKind.EXTERNAL if external_memory else MatrixKind.QUANTILE
        return MatrixSettings(kind, max_bin)
    if external_memory:
        raise UserError(
            "external_memory=true needs tree_method=hist (the default) and a tree booster."
        )
    return MatrixSettings(MatrixKind.DMATRIX, max_bin)


@dataclass(frozen=True)
class JobConfig:
    """Everything the algorithm-mode job was asked to do, validated."""

    data: DataSpec
    num_round: int
    early_stopping_rounds: int | None
    checkpoint_frequency: int
    matrix_settings: MatrixSettings
    cv_final_model: bool
    query_timeout_seconds: int
    model_format: ModelFormat
    hosts: HostsSettings
    report: bool = settings.BY_NAME["report"].default
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    xgboost_params: dict[str, Any] = field(default_factory=dict)

    @property
    def objective(self) -> str:
        return str(self.xgboost_params.get("objective", ""))

    @property
    def num_class(self) -> int | None:
        """XGBoost's ``num_class`` (multi-class objectives), when set."""
        value = self.xgboost_params.get("num_class")
        return int(value) if value is not None else None

    @property
    def num_targets(self) -> int:
        """Outputs per row for a multi-output model (one per label column); else 1."""
        return len(self.data.labels)


# What a DataSpec is built from: its fields' settings, the sources it holds as ``Source``s,
# and ``group`` (its ``query_group``).
DATA_SETTINGS = (
    "table",
    "query",
    "validation_table",
    "validation_query",
    "snapshot",
    "group",
    *settings.held_by(DataSpec),
)
HOSTS_SETTINGS = settings.held_by(HostsSettings)
DOWNLOAD_SETTINGS = settings.held_by(DownloadSettings)
TRAINING_SETTINGS = settings.held_by(JobConfig)


def _source(parsed: Mapping[str, Any], table_key: str, query_key: str) -> Source | None:
    table, query = parsed.get(table_key), parsed.get(query_key)
    if table and query:
        raise UserError(f"Set either {table_key} or {query_key}, not both.")
    if table:
        return Source(table=table)
    if query:
        return Source(query=query)
    return None


def _check_labels(parsed: Mapping[str, Any], origin: str) -> None:
    """Several labels: distinct, and none of them a feature, the weight or the group."""
    labels = [stored_name(name) for name in parsed["label"]]
    repeated = sorted({name for name in labels if labels.count(name) > 1})
    if repeated:
        raise UserError(f"{origin.capitalize()} label names {', '.join(repeated)} twice.")
    roles = [("features", name) for name in parsed["features"]]
    roles += [(role, parsed[role]) for role in ("weight", "group") if parsed[role]]
    for role, name in roles:
        if stored_name(name) in labels:
            raise UserError(
                f"Column {name} is a label; remove it from {role} (a label is never an input)."
            )


def _data_spec(parsed: Mapping[str, Any], origin: str) -> DataSpec:
    source = _source(parsed, "table", "query")
    if source is None:
        raise UserError(f"Set the training data: {origin} table (a table name) or query.")
    if not parsed["label"]:
        raise UserError(f"Set {origin} label to the name of the label column.")
    _check_labels(parsed, origin)
    validation_source = _source(parsed, "validation_table", "validation_query")
    if parsed["validation_fraction"] is not None and validation_source is not None:
        raise UserError(
            "Set either validation_query (or validation_table) or validation_fraction, not both."
        )
    if parsed["cv_folds"] is not None and (
        validation_source is not None or parsed["validation_fraction"] is not None
    ):
        raise UserError(
            "cv_folds validates on each fold in turn: leave out validation_fraction, "
            "validation_table and validation_query."
        )
    held = {name: parsed[name] for name in settings.held_by(DataSpec)}
    held["label"], *extra_labels = parsed["label"]
    spec = DataSpec(
        source=source,
        validation_source=validation_source,
        extra_labels=tuple(extra_labels),
        query_group=parsed["group"],
        **held,
    )
    snapshot = parsed["snapshot"]
    if snapshot is None:
        return spec
    if any(s.query for s in spec.sources):
        raise UserError(
            "snapshot reads tables as they were (Time Travel) and applies to table and "
            "validation_table only: for a query, write AT(TIMESTAMP => ...) in its FROM clause."
        )
    return spec.read_as_of(snapshot)


def data_spec(values: Mapping[str, Any], origin: str = "hyperparameter") -> DataSpec:
    """A :class:`DataSpec` from raw values (the API's arguments, or hyperparameters)."""
    return _data_spec(
        {name: settings.parse(name, values.get(name), origin) for name in DATA_SETTINGS}, origin
    )


def hosts_settings(values: Mapping[str, Any], origin: str = "hyperparameter") -> HostsSettings:
    """:class:`HostsSettings` from raw values; a missing one takes its default."""
    return HostsSettings(
        **{name: settings.parse(name, values.get(name), origin) for name in HOSTS_SETTINGS}
    )


def _check_ranking(data: DataSpec, objective: str) -> None:
    """Query groups and ranking objectives go together."""
    if data.query_group and not objective.startswith("rank:"):
        raise UserError(
            f"group={data.query_group} is for learning to rank: set objective=rank:ndcg (or "
            "rank:pairwise, rank:map), or remove group."
        )
    if objective.startswith("rank:") and not data.query_group:
        raise UserError(
            f"objective={objective} ranks rows within query groups: set group to the column "
            "that holds the query id."
        )
    if data.query_group and data.cv_folds is not None:
        raise UserError(
            "cv_folds does not support learning to rank (group) yet: validate with "
            "validation_fraction or validation_table instead."
        )


# Objectives that train one output per label column (XGBoost's multi-target support).
MULTI_OUTPUT_OBJECTIVES = ("reg:", "binary:logistic", "binary:logitraw")


def _check_multi_output(data: DataSpec, xgboost_params: Mapping[str, Any]) -> None:
    """Several labels need an objective with one output per label (not classes, not ranks)."""
    if not data.extra_labels:
        return
    objective = str(xgboost_params.get("objective", "reg:squarederror"))
    labels = ",".join(data.labels)
    if not objective.startswith(MULTI_OUTPUT_OBJECTIVES) or "num_class" in xgboost_params:
        raise UserError(
            f"label={labels} trains one output per label: set objective=reg:squarederror (or "
            "another reg:* objective) for numbers, or binary:logistic for 0/1 labels, without "
            f"num_class (got objective={objective})."
        )


def parse_hyperparameters(hyperparameters: Mapping[str, str]) -> JobConfig:
    """Validate SageMaker's string hyperparameters and build the job's configuration."""
    refuse_credential_names(hyperparameters)
    parsed = settings.parse_all(hyperparameters)
    data = _data_spec(parsed, "hyperparameter")
    if parsed["num_round"] is None:
        raise UserError("Set hyperparameter num_round (the number of boosting rounds).")
    if parsed["early_stopping_rounds"] is not None and not (data.has_validation or data.cv_folds):
        raise UserError(
            "early_stopping_rounds needs validation data: set validation_fraction, "
            "validation_table, validation_query or cv_folds."
        )
    xgboost_params = settings.xgboost_params(hyperparameters)
    _check_ranking(data, str(xgboost_params.get("objective", "")))
    _check_multi_output(data, xgboost_params)
    if parsed["model_format"] == ModelFormat.AWS_XGBOOST:
        check_single_output(xgboost_params, len(data.labels))
        check_aws_images(xgboost_params)
    return JobConfig(
        data=data,
        hosts=HostsSettings(**{name: parsed[name] for name in HOSTS_SETTINGS}),
        downloads=DownloadSettings(**{name: parsed[name] for name in DOWNLOAD_SETTINGS}),
        xgboost_params=xgboost_params,
        matrix_settings=matrix_settings_for(xgboost_params, parsed["external_memory"]),
        **{name: parsed[name] for name in TRAINING_SETTINGS},
    )
