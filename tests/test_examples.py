"""The examples: they compile, and the SDK example's metric regexes parse a real run's log."""

from __future__ import annotations

import json
import py_compile
import re
from pathlib import Path

import pytest
from support.jobs import JobRunner
from support.metrics import metric_values

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(REPO)) for p in EXAMPLES.rglob("*.py")), ids=str
)
def test_example_compiles(path: str, tmp_path: Path) -> None:
    py_compile.compile(str(REPO / path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


def test_metric_regexes_match_the_log_lines_of_a_real_run(
    jobs: JobRunner, housing_params: dict
) -> None:
    run = jobs.run({**housing_params, "num_round": 12, "eval_metric": "rmse,mae"})
    host = run.coordinator
    assert host.returncode == 0, host.output
    values = metric_values(host.output)
    for name in ("train:rmse", "validation:rmse", "train:mae", "validation:mae"):
        assert len(values[name]) == 12, (name, values[name])
    # The last value each regex captured is the model's final metric, not a neighbour's.
    final = host.metadata()["final_metrics"]
    for name in ("train:rmse", "validation:rmse", "train:mae", "validation:mae"):
        key = name.replace(":", "-")
        assert values[name][-1] == pytest.approx(final[key], abs=1e-4)
    assert values["train:rmse"][0] > values["train:rmse"][-1]  # training progressed


def test_metric_regexes_against_sagemaker_style_lines() -> None:
    line = "[3]#011train-rmse:0.51#011validation-rmse:0.55"
    assert metric_values(line.replace("#011", "\t"))["train:rmse"] == [0.51]
    assert metric_values(line.replace("#011", "\t"))["validation:rmse"] == [0.55]
    assert metric_values("[10]\ttrain-rmse:1e-05\tvalidation-rmse:nan")["train:rmse"] == [1e-05]
    # Not a round line: nothing matches.
    assert all(not v for v in metric_values("validation-rmse:0.3").values())


@pytest.mark.parametrize("path", sorted(p.name for p in (REPO / "iam").glob("*.json")))
def test_iam_policies_are_valid_and_grant_no_wildcard_action(path: str) -> None:
    policy = json.loads((REPO / "iam" / path).read_text())
    assert policy["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert ":" in action and not action.endswith("*"), action
    text = json.dumps(policy)
    if path == "training-role-policy.json":
        assert '"s3:GetObject"' not in text  # the data comes from Snowflake, not S3
        assert "kms:ViaService" in text and "secretsmanager.REGION.amazonaws.com" in text


def test_the_documented_script_mode_snippets_are_the_examples_own_lines() -> None:
    docs = (REPO / "docs" / "for-other-teams.md").read_text()
    example = (EXAMPLES / "script_mode" / "train.py").read_text()
    section = docs[docs.index("## 2.") : docs.index("## 3.")]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "api." in b]
    assert len(blocks) == 2
    for block in blocks:
        assert block in example, block


def test_the_launchers_keyless_flag_asks_for_no_secret() -> None:
    from support.metrics import launch_example

    common = ["--image-uri", "img", "--account", "acct", "--warehouse", "WH", "--local"]
    args = launch_example().parse_args([*common, "--keyless", "--snowflake-user", "SVC_XGB"])
    environment = launch_example().job_environment(args)
    assert environment["SNOWFLAKE_AUTHENTICATOR"] == "WORKLOAD_IDENTITY"
    assert environment["SNOWFLAKE_USER"] == "SVC_XGB"
    assert "SNOWFLAKE_SECRET_ID" not in environment
    # Local mode: the SDK passes the role session's token to the hosts, metadata service or not.
    assert launch_example().sdk_environment(args) == {"USE_SHORT_LIVED_CREDENTIALS": "1"}
    with_secret = launch_example().parse_args([*common, "--secret-id", "snowflake/xgb"])
    assert launch_example().sdk_environment(with_secret) == {}
    with pytest.raises(SystemExit):
        launch_example().parse_args(common)  # neither a secret nor --keyless


def test_the_launchers_tracking_option_reaches_the_hosts_environment() -> None:
    from support.metrics import launch_example

    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team"
    args = launch_example().parse_args(
        ["--image-uri", "img", "--account", "acct", "--warehouse", "WH", "--local",
         "--secret-id", "s", "--mlflow-tracking-uri", arn, "--mlflow-experiment", "housing"]
    )  # fmt: skip
    environment = launch_example().job_environment(args)
    assert environment["MLFLOW_TRACKING_URI"] == arn
    assert environment["MLFLOW_EXPERIMENT_NAME"] == "housing"
    assert arn not in json.dumps(launch_example().job_hyperparameters(args))
