"""The SQL this job runs, built from validated names only.

The user's own ``query`` is used as written, wrapped as a subquery. Everything else is
built here from identifiers Snowflake itself returned (the described columns, always quoted)
or that ``config`` validated (table names): no user text is pasted into any other statement.
The validation split and the cross-validation folds are a hash of each row's values (of its
query group id, for ranking), so the same rows land on the same side (in the same fold) on every
run, whatever order the warehouse returns them in. A table read as it was (``Source.as_of``) gets
Snowflake's Time Travel clause. Which columns are read, in what role (features, label, weight,
query group) and how each feature is encoded is decided here too (``select_columns``), as are
the bounded statements the coordinator reads category lists and query group sizes with.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.job_config import DataSpec, Source
from ..errors import UserError
from ..identifiers import QUERY_ID, columns_named, quote
from ..model_files.columns import ColumnSelection
from ..model_files.encoding import Encoding, Kind, LabelEncoding, feature_encoding
from .snowflake_session import Column

SPLIT_BUCKETS = 1_000_000
# Types a query group id may have: ordered, and compared by value.
GROUP_TYPES = frozenset(
    {"FIXED", "TEXT", "DATE", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "BOOLEAN"}
)


def time_travel_clause(point: str) -> str:
    """Snowflake's ``AT`` clause for a query id or a time (both validated by ``settings``)."""
    if QUERY_ID.fullmatch(point):
        return f"AT(STATEMENT => '{point}')"
    return f"AT(TIMESTAMP => '{point}'::TIMESTAMP_TZ)"


def stored_result_source(query_id: str) -> Source:
    """The stored result of query ``query_id`` as a source (``RESULT_SCAN``): its rows as they
    were when that query ran. Only aggregates and filters read it, which do not depend on the
    order RESULT_SCAN returns rows in."""
    if not QUERY_ID.fullmatch(query_id):
        raise ValueError(f"not a Snowflake query id: {query_id!r}")
    return Source(query=f"SELECT * FROM TABLE(RESULT_SCAN('{query_id}'))")


def source_sql(source: Source) -> str:
    """A SELECT over the source: the table's rows (as of a point, when set) or the user's query."""
    if source.table:
        at = f" {time_travel_clause(source.as_of)}" if source.as_of else ""
        return f"SELECT * FROM {source.table}{at}"
    return source.query


def _find(requested: str, columns: list[Column], hyperparameter: str) -> Column:
    """The column ``requested`` names, by ``identifiers.columns_named`` (serving's rule too)."""
    matches = columns_named(requested, [c.name for c in columns])
    if len(matches) > 1:
        quoted = " or ".join(quote(name) for name in matches)
        raise UserError(
            f"Column {requested} ({hyperparameter}) names {len(matches)} columns that differ "
            f"only in case: write {quoted}."
        )
    if not matches:
        available = ", ".join(c.name for c in columns)
        raise UserError(
            f"Column {requested} ({hyperparameter}) is not in the result. "
            f"Columns available: {available}."
        )
    return next(c for c in columns if c.name == matches[0])


def _check_numeric_labels(labels: list[Column]) -> None:
    """A multi-output model's labels are numbers (or booleans), one output each."""
    for label in labels:
        if LabelEncoding.for_column(label.name, label.type_name).is_text:
            raise UserError(
                f"Column {label.name} (label) is {label.type_name}: with several label columns "
                "each must be a number or boolean (0/1 for binary:logistic); convert it in "
                "your query."
            )


def _role_columns(columns: list[Column], data: DataSpec) -> dict[str, Column]:
    """The label, and the weight and group columns when set, by role."""
    roles = {"label": _find(data.label, columns, "label")}
    for index, name in enumerate(data.extra_labels, start=2):
        roles[f"label {index}"] = _find(name, columns, "label")
    for role, column in (("weight", data.weight), ("group", data.query_group)):
        if column:
            roles[role] = _find(column, columns, role)
    weight = roles.get("weight")
    if weight is not None and feature_encoding(weight.name, weight.type_name).kind != Kind.NUMBER:
        raise UserError(
            f"Column {weight.name} (weight) is {weight.type_name}: it must be a number."
        )
    if data.extra_labels:
        _check_numeric_labels(
            [column for role, column in roles.items() if role.startswith("label")]
        )
    group = roles.get("group")
    if group is not None and group.type_name not in GROUP_TYPES:
        raise UserError(
            f"Column {group.name} (group) is {group.type_name}: a query group id must be a "
            "number, text or date; convert it in your query."
        )
    return roles


def select_columns(columns: list[Column], data: DataSpec) -> ColumnSelection:
    """Resolve the label, weight, group and feature columns against the described result and
    decide how each feature is encoded (category lists are read later, by the coordinator)."""
    names = [c.name for c in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(
            f"The result has duplicate column names ({', '.join(duplicates)}): alias them."
        )
    roles = _role_columns(columns, data)
    labels = [column for role, column in roles.items() if role.startswith("label")]
    taken = {column.name: role.split()[0] for role, column in roles.items()}
    excluded = {_find(name, columns, "exclude").name for name in data.exclude}
    if data.features:
        features = [_find(name, columns, "features") for name in data.features]
    else:
        features = [c for c in columns if c.name not in taken and c.name not in excluded]
    for feature in features:
        if feature.name in taken:
            raise UserError(
                f"Column {feature.name} is the {taken[feature.name]}; remove it from features."
            )
    if not features:
        raise UserError("No feature columns left: check features and exclude.")

    overrides = {}
    for setting in ("categorical", "numeric"):
        chosen = {_find(name, columns, setting).name for name in getattr(data, setting)}
        strays = sorted(chosen - {f.name for f in features})
        if strays:
            raise UserError(f"Column(s) {', '.join(strays)} ({setting}) are not features.")
        overrides[setting] = chosen
    encoding = Encoding(
        tuple(
            feature_encoding(
                f.name,
                f.type_name,
                categorical=f.name in overrides["categorical"],
                numeric=f.name in overrides["numeric"],
            )
            for f in features
        ),
        LabelEncoding.for_column(roles["label"].name, roles["label"].type_name),
    )
    return ColumnSelection(
        features=tuple(f.name for f in features),
        label=roles["label"].name,
        weight=roles["weight"].name if "weight" in roles else None,
        query_group=roles["group"].name if "group" in roles else None,
        encoding=encoding,
        extra_labels=tuple(column.name for column in labels[1:]),
    )


def selection_sql(source: Source, columns: ColumnSelection) -> str:
    """Only the needed columns, so nothing else crosses the network."""
    listed = ", ".join(quote(name) for name in columns.all)
    return f"SELECT {listed} FROM ({source_sql(source)}) AS source_rows"


def _row_bucket(columns: ColumnSelection, buckets: int) -> str:
    """A number in ``[0, buckets)`` from a hash of the row's values: the same on every run.

    With query groups, the group column alone is hashed, so that a group lands whole on one
    side of a split (in one fold).
    """
    hashed = [columns.query_group] if columns.query_group else columns.all
    listed = ", ".join(quote(name) for name in hashed)
    return f"MOD(ABS(HASH({listed})), {buckets})"


def split_sql(source: Source, columns: ColumnSelection, fraction: float, validation: bool) -> str:
    """One side of the deterministic hash split of ``source`` into training and validation."""
    threshold = round(fraction * SPLIT_BUCKETS)
    comparison = "<" if validation else ">="
    return (
        f"{selection_sql(source, columns)} "
        f"WHERE {_row_bucket(columns, SPLIT_BUCKETS)} {comparison} {threshold}"
    )


def fold_sql(source: Source, columns: ColumnSelection, folds: int, fold: int) -> str:
    """The rows of cross-validation fold ``fold`` (0-based) of ``folds``, by a hash of each row."""
    return f"{selection_sql(source, columns)} WHERE {_row_bucket(columns, folds)} = {fold}"


def _ordered(sql: str, columns: ColumnSelection) -> str:
    """With query groups, rows come ordered by group, so each group's rows are contiguous,
    then by every other column: XGBoost's ranking objectives depend on the order of rows
    within a group, so this order makes the model the same on every run."""
    if not columns.query_group:
        return sql
    keys = [columns.query_group, *(name for name in columns.all if name != columns.query_group)]
    return f"{sql} ORDER BY {', '.join(quote(name) for name in keys)}"


@dataclass(frozen=True)
class JobQueries:
    """The statements the coordinator submits: training rows and, optionally, validation rows;
    with cross-validation, one statement per fold instead."""

    train: str | None
    validation: str | None
    folds: tuple[str, ...] = ()


def job_queries(data: DataSpec, columns: ColumnSelection) -> JobQueries:
    if data.cv_folds is not None:
        folds = tuple(
            _ordered(fold_sql(data.source, columns, data.cv_folds, k), columns)
            for k in range(data.cv_folds)
        )
        return JobQueries(train=None, validation=None, folds=folds)
    if data.validation_fraction is not None:
        fraction = data.validation_fraction
        return JobQueries(
            train=_ordered(split_sql(data.source, columns, fraction, validation=False), columns),
            validation=_ordered(
                split_sql(data.source, columns, fraction, validation=True), columns
            ),
        )
    validation = None
    if data.validation_source is not None:
        validation = _ordered(selection_sql(data.validation_source, columns), columns)
    return JobQueries(
        train=_ordered(selection_sql(data.source, columns), columns), validation=validation
    )


def distinct_values_sql(rows_sql: str, column: str, limit: int) -> str:
    """At most ``limit`` distinct non-NULL values of ``column`` among ``rows_sql``'s rows."""
    name = quote(column)
    return (
        f"SELECT DISTINCT {name} FROM ({rows_sql}) AS job_rows "
        f"WHERE {name} IS NOT NULL LIMIT {int(limit)}"
    )


def distinct_count_sql(rows_sql: str, column: str) -> str:
    return f"SELECT COUNT(DISTINCT {quote(column)}) FROM ({rows_sql}) AS job_rows"


def group_sizes_sql(rows_sql: str, group: str) -> str:
    """Rows per query group, in the order of ``ORDER BY group`` (the job's row order), and
    whether the group id is NULL."""
    name = quote(group)
    return (
        f"SELECT {name} IS NULL, COUNT(*) FROM ({rows_sql}) AS job_rows "
        f"GROUP BY {name} ORDER BY {name}"
    )
