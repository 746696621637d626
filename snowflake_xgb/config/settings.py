"""The job's own settings, in one table: name, kind, default, bounds and one line of doc.

SageMaker passes every hyperparameter as a string; the public API takes the same settings as
Python arguments. Both parse through :func:`parse` here, so a value is checked the same way
wherever it comes from, and errors name it the way the caller wrote it (a hyperparameter or an
API argument). The README's hyperparameter table is :func:`markdown_table` (a test keeps them
equal; ``python -m snowflake_xgb.config.settings`` prints it). Any other hyperparameter is an
XGBoost learning parameter, which XGBoost itself validates (``xgboost_params``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from ..booleans import parse_boolean
from ..errors import UserError
from ..identifiers import QUERY_ID, validate_column_name, validate_table_name
from ..model_files.aws_model_format import ModelFormat

# Hyperparameters the SageMaker SDK or its tuner add for themselves.
RESERVED_PREFIXES = ("sagemaker_", "_")

# An ISO 8601 time: with a query id (``identifiers.QUERY_ID``), a way to name a point in the past.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


class SettingKind(StrEnum):
    """How a setting's value is parsed."""

    INT = "int"  # a whole number within the setting's minimum and maximum
    FRACTION = "fraction"  # between 0 and 1, exclusive
    BOOL = "bool"
    TABLE = "table"  # a qualified Snowflake name
    SQL = "sql"
    COLUMN = "column"  # one Snowflake column name
    COLUMNS = "columns"  # comma-separated names, or a list of them
    CHOICE = "choice"  # one of the setting's choices
    SNAPSHOT = "snapshot"  # a query id or an ISO 8601 time


class JobKind(StrEnum):
    """The ``job`` setting: train a model, or score a table with one."""

    TRAIN = "train"
    SCORE = "score"


@dataclass(frozen=True)
class Setting:
    """One setting of the job; its ``kind`` decides how a value is parsed."""

    name: str
    kind: SettingKind
    default: Any
    doc: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "job",
        SettingKind.CHOICE,
        JobKind.TRAIN,
        "`train` a model, or `score` a table with one (the `model` channel) into `target_table`",
        choices=tuple(JobKind),
    ),
    Setting(
        "table",
        SettingKind.TABLE,
        None,
        "rows to train on (or score), `[database.][schema.]table`; or `query`",
    ),
    Setting("query", SettingKind.SQL, None, "rows to train on (or score) as a SELECT; or `table`"),
    Setting(
        "label",
        SettingKind.COLUMNS,
        (),
        "the label column (required to train); several, comma-separated, train a multi-output "
        "model (`reg:*` targets or `binary:logistic` 0/1 labels; see Multi-output models)",
    ),
    Setting(
        "features", SettingKind.COLUMNS, (), "feature columns, comma-separated; default: all others"
    ),
    Setting("exclude", SettingKind.COLUMNS, (), "columns to leave out of the default features"),
    Setting("validation_table", SettingKind.TABLE, None, "validation rows from a table"),
    Setting("validation_query", SettingKind.SQL, None, "validation rows from a SELECT"),
    Setting(
        "validation_fraction",
        SettingKind.FRACTION,
        None,
        "share of the rows held out for validation by a hash of each row (same every run)",
    ),
    Setting(
        "weight", SettingKind.COLUMN, None, "sample weight column (numbers >= 0; not a feature)"
    ),
    Setting(
        "group",
        SettingKind.COLUMN,
        None,
        "query group id column for `rank:*` objectives (rows read ordered by it; not a feature)",
    ),
    Setting(
        "categorical",
        SettingKind.COLUMNS,
        (),
        "number columns to treat as categories (text and boolean columns already are)",
    ),
    Setting(
        "numeric", SettingKind.COLUMNS, (), "text or boolean columns to read as numbers instead"
    ),
    Setting(
        "max_categories",
        SettingKind.INT,
        1000,
        "most distinct values a categorical column (or text label) may have",
        2,
        100_000,
    ),
    Setting("num_round", SettingKind.INT, None, "boosting rounds (required)", 1, 1_000_000),
    Setting(
        "early_stopping_rounds",
        SettingKind.INT,
        None,
        "stop when validation has not improved for this many rounds",
        1,
    ),
    Setting(
        "checkpoint_frequency", SettingKind.INT, 10, "rounds between checkpoints (managed spot)", 1
    ),
    Setting(
        "external_memory",
        SettingKind.BOOL,
        False,
        "build a disk-backed matrix (bigger than memory)",
    ),
    Setting(
        "report",
        SettingKind.BOOL,
        True,
        "write `output/data/report.html`: learning curves, importance, hosts, ROC",
    ),
    Setting(
        "tracker_port",
        SettingKind.INT,
        9099,
        "port of XGBoost's tracker on the first host",
        1,
        65535,
    ),
    Setting(
        "worker_port",
        SettingKind.INT,
        0,
        "port every host listens on for the others (XGBoost 3.3+); 0: any, chosen by the OS",
        0,
        65535,
    ),
    Setting(
        "host_timeout_seconds",
        SettingKind.INT,
        600,
        "bound on resolving host names, joining the hosts, and the other hosts' wait for the "
        "first host's outputs at the end",
        1,
    ),
    Setting(
        "collective_timeout_seconds",
        SettingKind.INT,
        120,
        "bound on each collective exchange among hosts that are all there (a lost host is "
        "named within seconds; a busy one is waited for as long as its own work's bound)",
        1,
    ),
    Setting(
        "query_timeout_seconds",
        SettingKind.INT,
        3600,
        "bound on each Snowflake statement, and on the other hosts' wait for one",
        1,
    ),
    Setting(
        "download_threads",
        SettingKind.INT,
        4,
        "result chunks each host downloads at once (memory: this many chunks in flight)",
        1,
        64,
    ),
    Setting(
        "download_timeout_seconds",
        SettingKind.INT,
        300,
        "bound on each result chunk download, the connector's own retries included (a host "
        "still loading is waited for while it finishes each chunk, retries included, in time)",
        1,
    ),
    Setting(
        "model_format",
        SettingKind.CHOICE,
        ModelFormat.NATIVE,
        "`aws-xgboost`: a model AWS's SageMaker XGBoost 1.7-1/3.0-5 images predict right "
        "(single-output only; metadata in `output/data`); see Serving",
        choices=tuple(ModelFormat),
    ),
    Setting(
        "snapshot",
        SettingKind.SNAPSHOT,
        None,
        "read the tables as they were (Time Travel): a time (ISO 8601) or a query id",
    ),
    Setting(
        "cv_folds",
        SettingKind.INT,
        None,
        "k-fold cross-validation: folds by a hash of each row, results in `output/data/cv.json`",
        2,
        100,
    ),
    Setting(
        "cv_final_model",
        SettingKind.BOOL,
        True,
        "after cross-validation, train the model on all rows for the rounds it chose",
    ),
)

# Scoring (`job=score`): what to carry through, what to write and where.
SCORING_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "key",
        SettingKind.COLUMNS,
        (),
        "scoring: the key column(s) carried into each prediction row",
    ),
    Setting(
        "target_table",
        SettingKind.TABLE,
        None,
        "scoring: the table the predictions replace, published whole at the end",
    ),
    Setting(
        "contributions",
        SettingKind.BOOL,
        False,
        "scoring: also write each feature's contribution (SHAP) to the margin",
    ),
)
SETTINGS += SCORING_SETTINGS

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def held_by(dataclass_type: type) -> tuple[str, ...]:
    """The settings a dataclass holds in fields of the same name, in field order."""
    return tuple(f.name for f in fields(dataclass_type) if f.name in BY_NAME)


def describe(name: str, origin: str) -> str:
    """How an error names a setting: ``Hyperparameter num_round`` or ``Argument exclude``."""
    return f"{origin.capitalize()} {name}"


def _split_columns(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


def _parse_int(setting: Setting, value: Any, where: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        raise UserError(f"{where} must be a whole number, got {value!r}.") from None
    low, high = setting.minimum, setting.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise UserError(f"{where} must be {bound}, got {number}.")
    return number


def _parse_fraction(value: Any, where: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise UserError(f"{where} must be a number, got {value!r}.") from None
    if not 0.0 < number < 1.0:
        raise UserError(f"{where} must be between 0 and 1 (exclusive), got {number}.")
    return number


def _parse_bool(value: Any, where: str) -> bool:
    parsed = parse_boolean(value)
    if parsed is None:
        raise UserError(f"{where} must be true or false, got {value!r}.")
    return parsed


def validate_snapshot(value: str, where: str) -> str:
    """A query id or an ISO 8601 time with its offset (both are pasted into SQL: only these
    shapes pass). A time without an offset is refused: Snowflake would read it in the
    session's TIMEZONE (an account default such as America/Los_Angeles), not in UTC."""
    value = value.strip()
    if QUERY_ID.fullmatch(value):
        return value
    if _TIMESTAMP.fullmatch(value):
        if not _OFFSET.search(value):
            raise UserError(
                f"{where}={value!r} has no UTC offset: Snowflake reads such a time in the "
                "session's TIMEZONE (an account default such as America/Los_Angeles), not in "
                f"UTC. Add one, e.g. {value if 'T' in value else value + 'T00:00:00'}+00:00 "
                "(or Z)."
            )
        return value
    raise UserError(
        f"{where}={value!r} is neither a Snowflake query id (like "
        "01b2c3d4-0000-1234-0000-00012345abcd) nor a time in ISO 8601 (like "
        "2026-11-27T09:30:00+00:00)."
    )


def parse(name: str, value: Any, origin: str = "hyperparameter") -> Any:
    """Parse ``value`` for setting ``name``; ``None`` or an empty string gives the default."""
    setting = BY_NAME[name]
    if value is None or (isinstance(value, str) and not value.strip()):
        return setting.default
    where = describe(name, origin)
    if setting.kind == SettingKind.INT:
        return _parse_int(setting, value, where)
    if setting.kind == SettingKind.FRACTION:
        return _parse_fraction(value, where)
    if setting.kind == SettingKind.BOOL:
        return _parse_bool(value, where)
    if setting.kind == SettingKind.TABLE:
        return validate_table_name(str(value), where)
    if setting.kind == SettingKind.SQL:
        text = str(value).strip().rstrip(";").strip()
        return text or setting.default
    if setting.kind == SettingKind.SNAPSHOT:
        return validate_snapshot(str(value), where)
    if setting.kind == SettingKind.COLUMN:
        return validate_column_name(str(value).strip(), where)
    if setting.kind == SettingKind.COLUMNS:
        return tuple(validate_column_name(column, where) for column in _split_columns(value))
    if setting.kind == SettingKind.CHOICE:
        choice = str(value).strip().lower()
        if choice not in setting.choices:
            raise UserError(f"{where} must be one of {', '.join(setting.choices)}, got {value!r}.")
        return setting.choices[setting.choices.index(choice)]  # the member, for an enum's
    raise ValueError(f"unknown setting kind {setting.kind}")


def parse_all(values: Mapping[str, Any], origin: str = "hyperparameter") -> dict[str, Any]:
    """Every setting, parsed from ``values`` where given, else its default."""
    return {
        setting.name: parse(setting.name, values.get(setting.name), origin) for setting in SETTINGS
    }


def xgboost_params(hyperparameters: Mapping[str, str]) -> dict[str, Any]:
    """The hyperparameters that are not ours: XGBoost's learning parameters.

    XGBoost takes values as strings; a comma-separated value (``eval_metric=rmse,mae``) is a list.
    """
    params: dict[str, Any] = {}
    for name, value in hyperparameters.items():
        if name in BY_NAME or name.startswith(RESERVED_PREFIXES):
            continue
        text = str(value).strip()
        params[name] = [part.strip() for part in text.split(",")] if "," in text else text
    return params


def markdown_table() -> str:
    """The README's table of the job's settings."""
    lines = ["| hyperparameter | default | meaning |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        if setting.default in (None, ()):
            default = ""
        elif isinstance(setting.default, bool):
            default = str(setting.default).lower()
        else:
            default = str(setting.default)
        lines.append(f"| `{setting.name}` | {default} | {setting.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
