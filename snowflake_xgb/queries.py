"""The SQL this job runs, built from validated names only.

The user's own ``query`` is used as written, wrapped as a subquery. Everything else is
built here from identifiers Snowflake itself returned (the described columns, always quoted)
or that ``config`` validated (table names): no user text is pasted into any other statement.
The validation split is a hash of each row's values, so the same rows land on the same side
on every run, whatever order the warehouse returns them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import DataSpec, Source, stored_name
from .encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from .errors import UserError
from .snowflake_session import Column

SPLIT_BUCKETS = 1_000_000


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def source_sql(source: Source) -> str:
    """A SELECT over the source: the table's rows or the user's query."""
    if source.table:
        return f"SELECT * FROM {source.table}"
    return source.query


@dataclass(frozen=True)
class ColumnSelection:
    """The result columns the model reads, in the order of the feature matrix, and how each
    becomes a number (``encoding``; by default every feature and the label are numbers)."""

    features: tuple[str, ...]
    label: str
    weight: str | None = None
    group: str | None = None
    encoding: Encoding = None  # type: ignore[assignment]  # set in __post_init__ when None

    def __post_init__(self) -> None:
        if self.encoding is None:
            numbers = tuple(FeatureEncoding(name, Kind.NUMBER) for name in self.features)
            object.__setattr__(self, "encoding", Encoding(numbers, LabelEncoding(self.label)))

    @property
    def all(self) -> tuple[str, ...]:
        extra = tuple(name for name in (self.weight, self.group) if name is not None)
        return (*self.features, self.label, *extra)


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


def split_sql(source: Source, columns: ColumnSelection, fraction: float, validation: bool) -> str:
    """One side of the deterministic hash split of ``source`` into training and validation."""
    listed = ", ".join(quote(name) for name in columns.all)
    threshold = round(fraction * SPLIT_BUCKETS)
    comparison = "<" if validation else ">="
    return (
        f"{selection_sql(source, columns)} "
        f"WHERE MOD(ABS(HASH({listed})), {SPLIT_BUCKETS}) {comparison} {threshold}"
    )


@dataclass(frozen=True)
class JobQueries:
    """The statements the coordinator submits: training rows and, optionally, validation rows."""

    train: str
    validation: str | None


def job_queries(data: DataSpec, columns: ColumnSelection) -> JobQueries:
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
