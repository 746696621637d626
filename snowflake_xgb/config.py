"""Hyperparameters -> a validated :class:`JobConfig`.

SageMaker passes every hyperparameter as a string. This module owns their names, types, ranges
and defaults, refuses what must never be a hyperparameter (credentials: sagemaker-training logs
hyperparameters), and validates table and column identifiers before any SQL is built.
It does no I/O: everything it needs arrives as a dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError

# The learning parameters XGBoost documents (general, tree, DART, linear, task), passed through
# to ``xgb.train``. A name outside this list is almost always a typo, which XGBoost would
# only warn about; we refuse it instead.
XGBOOST_PARAMETERS = frozenset(
    [
        "booster",
        "device",
        "verbosity",
        "validate_parameters",
        "nthread",
        "disable_default_eval_metric",
        "eta",
        "learning_rate",
        "gamma",
        "min_split_loss",
        "max_depth",
        "min_child_weight",
        "max_delta_step",
        "subsample",
        "sampling_method",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "lambda",
        "reg_lambda",
        "alpha",
        "reg_alpha",
        "tree_method",
        "scale_pos_weight",
        "updater",
        "refresh_leaf",
        "process_type",
        "grow_policy",
        "max_leaves",
        "max_bin",
        "num_parallel_tree",
        "monotone_constraints",
        "interaction_constraints",
        "multi_strategy",
        "max_cached_hist_node",
        "max_cat_to_onehot",
        "max_cat_threshold",
        "sample_type",
        "normalize_type",
        "rate_drop",
        "one_drop",
        "skip_drop",
        "feature_selector",
        "top_k",
        "objective",
        "base_score",
        "eval_metric",
        "seed",
        "seed_per_iteration",
        "tweedie_variance_power",
        "huber_slope",
        "quantile_alpha",
        "aft_loss_distribution",
        "aft_loss_distribution_scale",
        "num_class",
        "lambdarank_pair_method",
        "lambdarank_num_pair_per_sample",
        "lambdarank_normalization",
        "lambdarank_score_normalization",
        "lambdarank_unbiased",
        "lambdarank_bias_norm",
        "ndcg_exp_gain",
    ]
)

# Hyperparameters the SageMaker SDK or tuner add for themselves.
_RESERVED_PREFIXES = ("sagemaker_", "_")

_CREDENTIAL_WORDS = (
    "password", "passwd", "pwd", "passphrase", "private_key", "privatekey", "token",
    "secret", "credential", "api_key", "apikey",
)  # fmt: skip

_UNQUOTED_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]*"
_QUOTED_IDENTIFIER = r'"(?:[^"]|"")+"'
_IDENTIFIER = f"(?:{_UNQUOTED_IDENTIFIER}|{_QUOTED_IDENTIFIER})"
_QUALIFIED_NAME = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER}){{0,2}}")
_COLUMN_NAME = re.compile(_IDENTIFIER)

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class Source:
    """Where rows come from: a (qualified) table name or the user's own SELECT."""

    table: str | None = None
    query: str | None = None

    def describe(self) -> str:
        return f"table {self.table}" if self.table else "the query"


@dataclass(frozen=True)
class JobConfig:
    """Everything the job was asked to do, validated."""

    source: Source
    label: str
    num_round: int
    features: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    validation_source: Source | None = None
    validation_fraction: float | None = None
    early_stopping_rounds: int | None = None
    checkpoint_frequency: int = 10
    external_memory: bool = False
    tracker_port: int = 9099
    host_timeout_seconds: int = 600
    collective_timeout_seconds: int = 120
    query_timeout_seconds: int = 3600
    xgboost_params: dict[str, Any] = field(default_factory=dict)


def _credential_word(name: str) -> str | None:
    lowered = name.lower()
    return next((word for word in _CREDENTIAL_WORDS if word in lowered), None)


def _parse_int(name: str, value: str, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UserError(f"Hyperparameter {name} must be a whole number, got {value!r}.") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise UserError(f"Hyperparameter {name} must be {bound}, got {number}.")
    return number


def _parse_fraction(name: str, value: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise UserError(f"Hyperparameter {name} must be a number, got {value!r}.") from None
    if not 0.0 < number < 1.0:
        raise UserError(f"Hyperparameter {name} must be between 0 and 1 (exclusive), got {number}.")
    return number


def _parse_bool(name: str, value: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UserError(f"Hyperparameter {name} must be true or false, got {value!r}.")


def stored_name(identifier: str) -> str:
    """The name Snowflake stores for an identifier: a "quoted" one exact, an unquoted one upper."""
    identifier = identifier.strip()
    if len(identifier) > 1 and identifier.startswith('"') and identifier.endswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.upper()


def validate_table_name(name: str, hyperparameter: str) -> str:
    """Return ``name`` if it is a valid (optionally qualified) Snowflake identifier."""
    name = name.strip()
    if not _QUALIFIED_NAME.fullmatch(name):
        raise UserError(
            f"Hyperparameter {hyperparameter}={name!r} is not a valid Snowflake table name. "
            "Use [database.][schema.]table with unquoted names (letters, digits, _ and $) or "
            '"quoted" names; to read anything else, pass a SELECT as query instead.'
        )
    return name


def _column_list(name: str, value: str) -> tuple[str, ...]:
    columns = tuple(part.strip() for part in str(value).split(",") if part.strip())
    for column in columns:
        validate_column_name(column, name)
    return columns


def validate_column_name(column: str, hyperparameter: str) -> str:
    if not _COLUMN_NAME.fullmatch(column):
        raise UserError(
            f"Hyperparameter {hyperparameter}: {column!r} is not a valid Snowflake column name "
            '(letters, digits, _ and $, or a "quoted" name).'
        )
    return column


def _source(hyperparameters: dict[str, str], table_key: str, query_key: str) -> Source | None:
    table, query = hyperparameters.get(table_key), hyperparameters.get(query_key)
    if table and query:
        raise UserError(f"Set either {table_key} or {query_key}, not both.")
    if table:
        return Source(table=validate_table_name(table, table_key))
    if query:
        return Source(query=query.strip().rstrip(";"))
    return None


# Ranges of XGBoost's most used numeric parameters, as (low, low included, high). XGBoost checks
# them too, but its messages name the canonical parameter (eta is reported as learning_rate);
# checking here names the hyperparameter as the user wrote it.
_UNIT = (0.0, False, 1.0)
_NON_NEGATIVE = (0.0, True, None)
_XGBOOST_RANGES: dict[str, tuple[float, bool, float | None]] = {
    **dict.fromkeys(
        ("eta", "learning_rate", "gamma", "min_split_loss", "min_child_weight", "max_delta_step",
         "lambda", "reg_lambda", "alpha", "reg_alpha", "max_depth", "scale_pos_weight"),
        _NON_NEGATIVE,
    ),
    **dict.fromkeys(
        ("subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode"), _UNIT
    ),
    "max_bin": (2.0, True, None),
    "num_parallel_tree": (1.0, True, None),
}  # fmt: skip


def _check_xgboost_range(name: str, value: str) -> None:
    low, low_included, high = _XGBOOST_RANGES[name]
    try:
        number = float(str(value).strip())
    except ValueError:
        raise UserError(f"Hyperparameter {name} must be a number, got {value!r}.") from None
    too_low = number < low if low_included else number <= low
    if too_low or (high is not None and number > high) or number != number:
        bound = f"{'>=' if low_included else '>'} {low:g}"
        if high is not None:
            bound += f" and <= {high:g}"
        raise UserError(
            f"Hyperparameter {name} must be {bound}, got {value}. See "
            "https://xgboost.readthedocs.io/en/stable/parameter.html."
        )


def _xgboost_value(value: str) -> Any:
    """XGBoost takes parameter values as strings; keep lists (eval_metric=rmse,mae) as lists."""
    text = str(value).strip()
    return [part.strip() for part in text.split(",")] if "," in text else text


def refuse_credential_hyperparameters(hyperparameters: dict[str, str]) -> None:
    """Refuse hyperparameter names that look like credentials (sagemaker-training logs them)."""
    for name in hyperparameters:
        word = _credential_word(name)
        if word:
            raise UserError(
                f"Hyperparameter {name!r} looks like a credential ({word}). Hyperparameters are "
                "logged and stored with the job: put Snowflake credentials in the Secrets "
                "Manager secret named by SNOWFLAKE_SECRET_ID (scripts find them in the "
                "SNOWFLAKE_* environment variables) and remove this hyperparameter."
            )


def parse_hyperparameters(hyperparameters: dict[str, str]) -> JobConfig:
    """Validate SageMaker's string hyperparameters and build the job's configuration."""
    refuse_credential_hyperparameters(hyperparameters)
    ours = {
        "table", "query", "label", "features", "exclude", "validation_table",
        "validation_query", "validation_fraction", "num_round", "early_stopping_rounds",
        "checkpoint_frequency", "external_memory", "tracker_port", "host_timeout_seconds",
        "collective_timeout_seconds", "query_timeout_seconds",
    }  # fmt: skip
    unknown = sorted(
        name
        for name in hyperparameters
        if name not in ours
        and name not in XGBOOST_PARAMETERS
        and not name.startswith(_RESERVED_PREFIXES)
    )
    if unknown:
        raise UserError(
            f"Unknown hyperparameter(s): {', '.join(unknown)}. Use this job's own settings "
            "(table, query, label, features, exclude, validation_*, num_round, ...) or XGBoost's "
            "learning parameters (https://xgboost.readthedocs.io/en/stable/parameter.html)."
        )

    for name, value in hyperparameters.items():
        if name in _XGBOOST_RANGES:
            _check_xgboost_range(name, value)

    source = _source(hyperparameters, "table", "query")
    if source is None:
        raise UserError("Set the training data: hyperparameter table (a table name) or query.")
    label = hyperparameters.get("label", "").strip()
    if not label:
        raise UserError("Set hyperparameter label to the name of the label column.")
    validate_column_name(label, "label")
    if "num_round" not in hyperparameters:
        raise UserError("Set hyperparameter num_round (the number of boosting rounds).")

    validation_source = _source(hyperparameters, "validation_table", "validation_query")
    validation_fraction = None
    if "validation_fraction" in hyperparameters:
        if validation_source is not None:
            raise UserError("Set either validation_fraction or a validation table/query, not both.")
        validation_fraction = _parse_fraction(
            "validation_fraction", hyperparameters["validation_fraction"]
        )

    early_stopping_rounds = None
    if "early_stopping_rounds" in hyperparameters:
        early_stopping_rounds = _parse_int(
            "early_stopping_rounds", hyperparameters["early_stopping_rounds"], 1
        )
        if validation_source is None and validation_fraction is None:
            raise UserError(
                "early_stopping_rounds needs validation data: set validation_fraction, "
                "validation_table or validation_query."
            )

    def optional_int(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        if name not in hyperparameters:
            return default
        return _parse_int(name, hyperparameters[name], minimum, maximum)

    return JobConfig(
        source=source,
        label=label,
        num_round=_parse_int("num_round", hyperparameters["num_round"], 1, 1_000_000),
        features=_column_list("features", hyperparameters.get("features", "")),
        exclude=_column_list("exclude", hyperparameters.get("exclude", "")),
        validation_source=validation_source,
        validation_fraction=validation_fraction,
        early_stopping_rounds=early_stopping_rounds,
        checkpoint_frequency=optional_int("checkpoint_frequency", 10, 1),
        external_memory=_parse_bool(
            "external_memory", hyperparameters.get("external_memory", "false")
        ),
        tracker_port=optional_int("tracker_port", 9099, 1, 65535),
        host_timeout_seconds=optional_int("host_timeout_seconds", 600, 1),
        collective_timeout_seconds=optional_int("collective_timeout_seconds", 120, 1),
        query_timeout_seconds=optional_int("query_timeout_seconds", 3600, 1),
        xgboost_params={
            name: _xgboost_value(value)
            for name, value in hyperparameters.items()
            if name in XGBOOST_PARAMETERS
        },
    )
