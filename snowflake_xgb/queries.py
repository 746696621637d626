"""The SQL this job runs, built from validated names only.

The user's own ``query`` is used as written, wrapped as a subquery. Everything else is
built here from identifiers Snowflake itself returned (the described columns, always quoted)
or that ``config`` validated (table names): no user text is pasted into any other statement.
The validation split and the cross-validation folds are a hash of each row's values, so the
same rows land on the same side (in the same fold) on every run, whatever order the warehouse
returns them in. A table read as it was (``Source.as_of``) gets Snowflake's Time Travel clause.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import DataSpec, Source, stored_name
from .errors import UserError
from .settings import QUERY_ID
from .snowflake_session import Column

SPLIT_BUCKETS = 1_000_000


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def time_travel_clause(point: str) -> str:
    """Snowflake's ``AT`` clause for a query id or a time (both validated by ``settings``)."""
    if QUERY_ID.fullmatch(point):
        return f"AT(STATEMENT => '{point}')"
    return f"AT(TIMESTAMP => '{point}'::TIMESTAMP_TZ)"


def source_sql(source: Source) -> str:
    """A SELECT over the source: the table's rows (as of a point, when set) or the user's query."""
    if source.table:
        at = f" {time_travel_clause(source.as_of)}" if source.as_of else ""
        return f"SELECT * FROM {source.table}{at}"
    return source.query


@dataclass(frozen=True)
class ColumnSelection:
    """The result columns the model reads, in the order of the feature matrix."""

    features: tuple[str, ...]
    label: str

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.features, self.label)


def _find(requested: str, columns: list[Column], hyperparameter: str) -> Column:
    """Snowflake's rule: a "quoted" name matches exactly, an unquoted one ignores case."""
    matches = [c for c in columns if c.name == stored_name(requested)]
    if not matches and not requested.startswith('"'):
        matches = [c for c in columns if c.name.upper() == requested.upper()]
    if len(matches) != 1:
        available = ", ".join(c.name for c in columns)
        raise UserError(
            f"Column {requested} ({hyperparameter}) is not in the result. "
            f"Columns available: {available}."
        )
    return matches[0]


def select_columns(columns: list[Column], data: DataSpec) -> ColumnSelection:
    """Resolve label, features and exclusions against the described result and check types."""
    names = [c.name for c in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(
            f"The result has duplicate column names ({', '.join(duplicates)}): alias them."
        )
    label = _find(data.label, columns, "label")
    excluded = {_find(name, columns, "exclude").name for name in data.exclude}
    if data.features:
        features = [_find(name, columns, "features") for name in data.features]
    else:
        features = [c for c in columns if c.name != label.name and c.name not in excluded]
    if label.name in {f.name for f in features}:
        raise UserError(f"Column {label.name} is the label; remove it from features.")
    if not features:
        raise UserError("No feature columns left: check features and exclude.")

    not_numeric = [c for c in (*features, label) if not c.is_numeric]
    if not_numeric:
        listed = ", ".join(f"{c.name} ({c.type_name})" for c in not_numeric)
        raise UserError(
            f"Non-numeric column(s): {listed}. XGBoost needs numbers: leave them out with "
            "exclude=..., or convert them in your query (e.g. a CASE or a cast to NUMBER)."
        )
    return ColumnSelection(features=tuple(f.name for f in features), label=label.name)


def selection_sql(source: Source, columns: ColumnSelection) -> str:
    """Only the needed columns, so nothing else crosses the network."""
    listed = ", ".join(quote(name) for name in columns.all)
    return f"SELECT {listed} FROM ({source_sql(source)}) AS source_rows"


def _row_bucket(columns: ColumnSelection, buckets: int) -> str:
    """A number in ``[0, buckets)`` from a hash of the row's values: the same on every run."""
    listed = ", ".join(quote(name) for name in columns.all)
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
            fold_sql(data.source, columns, data.cv_folds, k) for k in range(data.cv_folds)
        )
        return JobQueries(train=None, validation=None, folds=folds)
    if data.validation_fraction is not None:
        fraction = data.validation_fraction
        return JobQueries(
            train=split_sql(data.source, columns, fraction, validation=False),
            validation=split_sql(data.source, columns, fraction, validation=True),
        )
    validation = None
    if data.validation_source is not None:
        validation = selection_sql(data.validation_source, columns)
    return JobQueries(train=selection_sql(data.source, columns), validation=validation)
