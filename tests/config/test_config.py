"""Hyperparameters -> JobConfig: how settings fit together, checked before any I/O."""

from __future__ import annotations

import pytest

from snowflake_xgb.config.job_config import (
    DataSpec,
    HostsSettings,
    MatrixSettings,
    Source,
    data_spec,
    parse_hyperparameters,
)
from snowflake_xgb.errors import UserError

BASE = {"table": "DEMO.PUBLIC.T", "label": "Y", "num_round": "10"}


def test_a_minimal_job_takes_the_defaults() -> None:
    config = parse_hyperparameters(BASE)
    assert config.data == DataSpec(Source(table="DEMO.PUBLIC.T"), "Y")
    assert config.num_round == 10 and config.early_stopping_rounds is None
    assert config.checkpoint_frequency == 10 and config.matrix_settings == MatrixSettings()
    assert config.hosts == HostsSettings(9099, 600, 120, worker_port=0)
    assert config.query_timeout_seconds == 3600 and config.xgboost_params == {}


def test_a_full_job() -> None:
    config = parse_hyperparameters(
        {
            **BASE,
            "features": "A,B",
            "validation_fraction": "0.2",
            "early_stopping_rounds": "5",
            "tracker_port": "7000",
            "worker_port": "7002",
            "max_depth": "4",
            "eval_metric": "rmse,mae",
        }
    )
    assert config.data.features == ("A", "B") and config.data.validation_fraction == 0.2
    assert config.early_stopping_rounds == 5 and config.hosts.tracker_port == 7000
    assert config.hosts.worker_port == 7002
    assert config.xgboost_params == {"max_depth": "4", "eval_metric": ["rmse", "mae"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"query": "SELECT 1"}, "Set either table or query, not both."),
        ({"table": None}, "Set the training data: hyperparameter table"),
        ({"label": None}, "Set hyperparameter label"),
        ({"num_round": None}, "Set hyperparameter num_round"),
        ({"early_stopping_rounds": "3"}, "early_stopping_rounds needs validation data"),
        (
            {"validation_fraction": "0.1", "validation_table": "V"},
            "either validation_query (or validation_table) or validation_fraction",
        ),
        ({"snowflake_password": "x"}, "looks like a credential (password)"),
        ({"api_token": "x"}, "looks like a credential (token)"),
        ({"worker_port": "9099"}, "worker_port=9099 is taken by the tracker (tracker_port=9099)"),
        ({"tracker_port": "7000", "worker_port": "7001"}, "or the liveness probes (7001)"),
        ({"worker_port": "65536"}, "worker_port must be between 0 and 65535, got 65536"),
    ],
)
def test_settings_that_do_not_fit_together_are_refused(change: dict, message: str) -> None:
    hyperparameters = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(UserError) as raised:
        parse_hyperparameters(hyperparameters)
    assert message in str(raised.value)


def test_a_credential_named_hyperparameter_is_refused_without_echoing_its_value() -> None:
    with pytest.raises(UserError) as raised:
        parse_hyperparameters({**BASE, "password": "hunter2-value"})
    assert "hunter2-value" not in str(raised.value)


def test_the_api_describes_data_from_arguments() -> None:
    spec = data_spec({"query": "SELECT * FROM T", "label": "Y", "exclude": "ID,AGE"}, "argument")
    assert spec.source == Source(query="SELECT * FROM T") and spec.exclude == ("ID", "AGE")


def test_several_labels_make_a_multi_output_job() -> None:
    config = parse_hyperparameters(
        {**BASE, "label": 'Y, z,"w"', "multi_strategy": "multi_output_tree"}
    )
    assert config.data.label == "Y" and config.data.extra_labels == ("z", '"w"')
    assert config.data.labels == ("Y", "z", '"w"') and config.num_targets == 3
    assert parse_hyperparameters(BASE).num_targets == 1
    spec = data_spec({"query": "SELECT * FROM T", "label": ["A", "B"]}, "argument")
    assert spec.labels == ("A", "B")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "Y,y"}, "Hyperparameter label names Y twice."),
        ({"label": "Y,Z", "features": "A,z"}, "Column z is a label; remove it from features"),
        ({"label": "Y,Z", "weight": "Z"}, "Column Z is a label; remove it from weight"),
        (
            {"label": "Y,Z", "objective": "multi:softprob", "num_class": "3"},
            "label=Y,Z trains one output per label: set objective=reg:squarederror",
        ),
        ({"label": "Y,Z", "objective": "count:poisson"}, "(got objective=count:poisson)"),
        (
            {"label": "Y,Z", "objective": "rank:ndcg", "group": "Q"},
            "label=Y,Z trains one output per label",
        ),
        (
            {"label": "Y,Z", "model_format": "aws-xgboost"},
            "this job trains a multi-output model (2 label columns)",
        ),
    ],
)
def test_bad_label_sets_are_refused(change: dict, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_hyperparameters({**BASE, **change})
    assert message in str(raised.value)
