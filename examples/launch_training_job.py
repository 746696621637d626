"""Launch a snowflake_xgb training job with the SageMaker Python SDK, v3 or v2.

    pip install sagemaker            # the SDK, on your machine (not in the image); v3 today
    python examples/launch_training_job.py \\
        --image-uri 123456789012.dkr.ecr.eu-west-1.amazonaws.com/snowflake-xgb:latest \\
        --role arn:aws:iam::123456789012:role/snowflake-xgb-training \\
        --secret-id snowflake/xgb-training --account myorg-myaccount \\
        --warehouse TRAINING_WH --output s3://my-bucket/snowflake-xgb/models

The SDK is the one installed: v3 (``pip install sagemaker``, 3.x) launches with
``sagemaker.train.ModelTrainer``, v2 (``pip install 'sagemaker<3'``) with
``sagemaker.estimator.Estimator``; ``--sdk v2``/``--sdk v3`` insists on one. The job is the same
either way: same image, environment, hyperparameters and metric definitions.

Algorithm mode (the default) trains on ``--table`` with the image's built-in job. With
``--script-mode`` the same image runs ``examples/script_mode/train.py`` after its secrets
bootstrap (v2 uploads it as ``source_dir``; v3 passes it as the input channel ``code`` and
names it with the ``sagemaker_program``/``sagemaker_submit_directory`` hyperparameters, so the
image's own entry point still runs first). No data is staged in S3: the hosts read Snowflake
directly. The role needs the permissions in ``iam/training-role-policy.json``.

``--keyless`` (instead of ``--secret-id``) signs in with the training role itself (Snowflake
workload identity federation, ``SNOWFLAKE_AUTHENTICATOR=WORKLOAD_IDENTITY``): no secret, and
``iam/training-role-policy-keyless.json`` is enough. ``--snowflake-user`` names the service user
registered with the role (connector 4.x sends it; 5.x lets Snowflake find it by the role);
``--impersonation-path`` chains roles (comma-separated role ARNs).

``--mlflow-tracking-uri`` records the job as one MLflow run (a SageMaker managed MLflow tracking
server or MLflow App ARN, or any MLflow server URL; ``--mlflow-experiment`` names the
experiment): the hosts get ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME``, and only the
first host talks to MLflow. The role then needs the MLflow permissions in ``iam/README.md``.

``--local`` runs the job on this machine with the SDK's local mode (docker compose; no role,
no S3): the job's files and its ``model.tar.gz`` (path printed) go under ``--local-root``.
The SDK hands the containers the AWS credentials this launcher runs with (boto3's chain): for
``--local --keyless`` run it with the training role's session (a profile with ``role_arn``,
or ``aws sts assume-role``'s three values). The SDK passes a session's token along only where no
EC2 metadata service answers, unless ``USE_SHORT_LIVED_CREDENTIALS=1``: ``--local --keyless``
sets that for the SDK (this process only), so the hosts sign in with the role even on EC2.
``--env KEY=VALUE`` adds environment variables (``SNOWFLAKE_HOST`` for PrivateLink, or the
local stand-ins' endpoints), ``--hp KEY=VALUE`` overrides hyperparameters.

``--tune`` starts a SageMaker automatic model tuning job over the same training job instead
(v3: ``sagemaker.train.tuner.HyperparameterTuner`` around the ``ModelTrainer``; v2:
``sagemaker.tuner.HyperparameterTuner`` around the ``Estimator``): the ranges come from
``--tuning-ranges`` (``examples/tuning_ranges.json``: per hyperparameter ``type`` continuous,
integer or categorical, ``min``/``max`` or ``values``, optional ``scaling``), the objective is
the validation metric the job prints (``validation:rmse``; with ``--hp cv_folds=k`` the folds'
mean, ``cv:validation-rmse-mean``, whose last line is the chosen round), minimized;
``--objective`` picks another of ``METRIC_DEFINITIONS``. ``--warm-start-from NAME`` starts from
an earlier tuning job on the same data and image (``IDENTICAL_DATA_AND_ALGORITHM``). Tuning
runs on SageMaker only (not ``--local``).

``--score-with MODEL`` starts a scoring job of the same image instead (``job=score``): the
model (a training job's ``model.tar.gz``, as an S3 URI) goes in as the input channel
``model``, the rows of ``--table`` are scored, each row's
``--key`` column(s) carried through, and the predictions replace ``--target-table`` in one step.

``METRIC_DEFINITIONS`` turns the job's per-round log lines into SageMaker metrics (CloudWatch
shows a tab as ``#011``, which is what the regexes match); ``tests/test_examples.py`` checks
them against the lines of a real run. The SDKs are imported inside the functions that use
them, so this file imports (and its ``METRIC_DEFINITIONS`` load) with either SDK or none.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

# A number as XGBoost prints it: 0.51234, 1e-05, nan and inf included.
_NUMBER = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"

# One line per round on the first host: "[3]<TAB>train-rmse:0.51<TAB>validation-rmse:0.55".
METRIC_DEFINITIONS = [
    {"Name": "train:rmse", "Regex": r".*\[[0-9]+\].*#011train-rmse:" + _NUMBER},
    {"Name": "validation:rmse", "Regex": r".*\[[0-9]+\].*#011validation-rmse:" + _NUMBER},
    # Add one pair per eval_metric you set, e.g. for eval_metric=rmse,mae:
    {"Name": "train:mae", "Regex": r".*\[[0-9]+\].*#011train-mae:" + _NUMBER},
    {"Name": "validation:mae", "Regex": r".*\[[0-9]+\].*#011validation-mae:" + _NUMBER},
    # With cv_folds: the folds' mean and standard deviation per round,
    # "[3]<TAB>train-rmse-mean:0.51<TAB>train-rmse-std:0.01<TAB>validation-rmse-mean:0.55...";
    # the last line repeats the chosen round, so a tuning job's objective (the last value)
    # is "cv:validation-rmse-mean" at the rounds the model is trained for.
    {"Name": "cv:train-rmse-mean", "Regex": r".*\[[0-9]+\].*#011train-rmse-mean:" + _NUMBER},
    {
        "Name": "cv:validation-rmse-mean",
        "Regex": r".*\[[0-9]+\].*#011validation-rmse-mean:" + _NUMBER,
    },
    {
        "Name": "cv:validation-rmse-std",
        "Regex": r".*\[[0-9]+\].*#011validation-rmse-std:" + _NUMBER,
    },
]

SCRIPT_DIR = Path(__file__).resolve().parent / "script_mode"
# Where SageMaker (and v3's local mode) puts the input channel "code" in every container.
CODE_CHANNEL = "code"
CODE_CHANNEL_PATH = f"/opt/ml/input/data/{CODE_CHANNEL}"
MAX_RUN_SECONDS = 4 * 3600
TUNING_RANGES = Path(__file__).resolve().parent / "tuning_ranges.json"
MODEL_CHANNEL = "model"  # where a scoring job finds its model (snowflake_xgb.scoring)
RANGE_TYPES = ("continuous", "integer", "categorical")
WARM_START_TYPE = "IdenticalDataAndAlgorithm"  # the API's IDENTICAL_DATA_AND_ALGORITHM


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} takes KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-uri", required=True, help="the image in your ECR (make push)")
    parser.add_argument("--role", help="the training role's ARN (see iam/); not with --local")
    parser.add_argument("--secret-id", help="Secrets Manager secret (name/ARN); or --keyless")
    parser.add_argument(
        "--keyless",
        action="store_true",
        help="sign in with the training role (workload identity), no secret",
    )
    parser.add_argument("--snowflake-user", help="the service user (optional with --keyless)")
    parser.add_argument(
        "--impersonation-path", help="--keyless: role ARNs to chain, comma-separated"
    )
    parser.add_argument("--mlflow-tracking-uri", help="MLflow tracking server ARN or URL")
    parser.add_argument("--mlflow-experiment", help="MLflow experiment (default: the server's)")
    parser.add_argument("--account", required=True, help="Snowflake account identifier")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--database", default="DEMO")
    parser.add_argument("--schema", default="PUBLIC")
    parser.add_argument("--role-name", default=None, help="Snowflake role (optional)")
    parser.add_argument("--table", default="DEMO.PUBLIC.CALIFORNIA_HOUSING")
    parser.add_argument("--label", default="MEDHOUSEVAL")
    parser.add_argument("--output", help="s3://bucket/prefix for the model; not with --local")
    parser.add_argument("--instance-type", default="ml.m5.xlarge")
    parser.add_argument("--instance-count", type=int, default=2)
    parser.add_argument("--subnets", nargs="*", default=None, help="VPC subnets (PrivateLink)")
    parser.add_argument("--security-groups", nargs="*", default=None)
    parser.add_argument("--script-mode", action="store_true", help="run script_mode/train.py")
    parser.add_argument("--no-wait", action="store_true", help="start the job and return")
    parser.add_argument("--sdk", choices=["auto", "v3", "v2"], default="auto",
                        help="SDK API (default: the installed sagemaker's)")  # fmt: skip
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument("--local", action="store_true",
                        help="SDK local mode here (docker compose); no role or S3")  # fmt: skip
    parser.add_argument("--local-root", default="sdk-local-job",
                        help="local mode: folder for the job's files and artifacts")  # fmt: skip
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment variable for the hosts (repeatable)")  # fmt: skip
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameter to add or override (repeatable)")  # fmt: skip
    parser.add_argument("--tune", action="store_true",
                        help="start a tuning job instead of one training job")  # fmt: skip
    parser.add_argument("--tuning-ranges", default=str(TUNING_RANGES),
                        help="--tune: JSON file of hyperparameter ranges")  # fmt: skip
    parser.add_argument("--objective", default=None,
                        help="--tune: metric to minimize (default: validation:rmse, or "
                        "cv:validation-rmse-mean with cv_folds)")  # fmt: skip
    parser.add_argument("--max-jobs", type=int, default=20, help="--tune: training jobs in all")
    parser.add_argument("--max-parallel-jobs", type=int, default=2,
                        help="--tune: training jobs at once")  # fmt: skip
    parser.add_argument("--warm-start-from", default=None, metavar="NAME",
                        help="--tune: an earlier tuning job to start from")  # fmt: skip
    parser.add_argument("--tuning-job-name", default=None,
                        help="--tune: the tuning job's name (default: by time)")  # fmt: skip
    parser.add_argument("--score-with", default=None, metavar="MODEL",
                        help="score --table with this model.tar.gz (S3 URI) instead of "
                        "training")  # fmt: skip
    parser.add_argument("--key", default=None,
                        help="--score-with: the key column(s), comma-separated")  # fmt: skip
    parser.add_argument("--target-table", default=None,
                        help="--score-with: the table the predictions replace")  # fmt: skip
    args = parser.parse_args(argv)
    if args.score_with and not (args.key and args.target_table):
        parser.error("--score-with needs --key and --target-table")
    if not args.score_with and (args.key or args.target_table):
        parser.error("--key and --target-table go with --score-with")
    if args.score_with and (args.tune or args.script_mode):
        parser.error("--score-with runs the image's scoring job: leave out --tune/--script-mode")
    if args.tune and args.local:
        parser.error("--tune runs on SageMaker: leave out --local")
    if not args.tune and (args.warm_start_from or args.objective or args.tuning_job_name):
        parser.error("--warm-start-from, --objective and --tuning-job-name go with --tune")
    if not args.local and not (args.role and args.output):
        parser.error("--role and --output are required unless --local")
    if not (args.secret_id or args.keyless):
        parser.error("--secret-id (the Snowflake secret) or --keyless (the role) is required")
    return args


def chosen_sdk(flag: str) -> str:
    """ "v3" or "v2": the --sdk flag, or for "auto" the installed SDK's major version."""
    if flag != "auto":
        return flag
    try:
        version = importlib.metadata.version("sagemaker")
    except importlib.metadata.PackageNotFoundError:
        message = "the SageMaker Python SDK is not installed: pip install sagemaker"
        raise SystemExit(message) from None
    return "v3" if int(version.split(".", 1)[0]) >= 3 else "v2"


def job_environment(args: argparse.Namespace) -> dict[str, str]:
    """The hosts' environment: where the credentials are and the Snowflake session context."""
    environment = {
        "SNOWFLAKE_ACCOUNT": args.account,
        "SNOWFLAKE_WAREHOUSE": args.warehouse,
        "SNOWFLAKE_DATABASE": args.database,
        "SNOWFLAKE_SCHEMA": args.schema,
    }
    if args.secret_id:
        environment["SNOWFLAKE_SECRET_ID"] = args.secret_id
    if args.keyless:
        environment["SNOWFLAKE_AUTHENTICATOR"] = "WORKLOAD_IDENTITY"
    if args.impersonation_path:
        environment["SNOWFLAKE_WORKLOAD_IDENTITY_IMPERSONATION_PATH"] = args.impersonation_path
    if args.snowflake_user:
        environment["SNOWFLAKE_USER"] = args.snowflake_user
    if args.role_name:
        environment["SNOWFLAKE_ROLE"] = args.role_name
    if args.mlflow_tracking_uri:
        environment["MLFLOW_TRACKING_URI"] = args.mlflow_tracking_uri
    if args.mlflow_experiment:
        environment["MLFLOW_EXPERIMENT_NAME"] = args.mlflow_experiment
    return {**environment, **_pairs(args.env, "--env")}


def sdk_environment(args: argparse.Namespace) -> dict[str, str]:
    """Settings for the SDK in this process (not the hosts'): with ``--local --keyless`` it
    passes this machine's role session, token included, to the containers."""
    if args.local and args.keyless:
        return {"USE_SHORT_LIVED_CREDENTIALS": "1"}
    return {}


def job_hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """Algorithm mode's hyperparameters, the scoring job's, or the example script's (its program
    not included)."""
    if args.score_with:
        hyperparameters = {
            "job": "score",
            "table": args.table,
            "key": args.key,
            "target_table": args.target_table,
        }
    elif args.script_mode:
        hyperparameters: dict[str, Any] = {
            "query": f"SELECT * FROM {args.table}",
            "label": args.label,
            "num_round": 200,
            "max_depth": 6,
            "eta": 0.1,
            "eval_metric": "rmse",
        }
    else:
        hyperparameters = {
            "table": args.table,
            "label": args.label,
            "validation_fraction": 0.2,
            "num_round": 200,
            "early_stopping_rounds": 10,
            "objective": "reg:squarederror",
            "eval_metric": "rmse,mae",
            "max_depth": 6,
            "eta": 0.1,
        }
    overrides = _pairs(args.hp, "--hp")
    if "cv_folds" in overrides:  # cross-validation validates on each fold: no held-out share
        hyperparameters.pop("validation_fraction", None)
    return {**hyperparameters, **overrides}


def tuning_ranges(path: str) -> dict[str, dict[str, Any]]:
    """The ranges file, checked: hyperparameter -> {type, min, max[, scaling]} or {type, values}."""
    try:
        ranges = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"--tuning-ranges {path}: not a readable JSON file ({error})") from None
    if not isinstance(ranges, dict) or not ranges:
        raise SystemExit(f"--tuning-ranges {path}: expected an object of ranges by hyperparameter")
    for name, spec in ranges.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        bounded = kind != "categorical" and {"min", "max"} <= set(spec)
        listed = kind == "categorical" and bool(spec.get("values"))
        if kind not in RANGE_TYPES or not (bounded or listed):
            raise SystemExit(
                f"--tuning-ranges {path}: {name} needs type ({', '.join(RANGE_TYPES)}) with "
                "min and max, or with values for categorical"
            )
    return ranges


def objective_metric(args: argparse.Namespace, hyperparameters: dict[str, Any]) -> str:
    """The metric the tuning job minimizes: one of ``METRIC_DEFINITIONS``."""
    default = "cv:validation-rmse-mean" if "cv_folds" in hyperparameters else "validation:rmse"
    name = args.objective or default
    if name not in {d["Name"] for d in METRIC_DEFINITIONS}:
        raise SystemExit(f"--objective {name} is not one of METRIC_DEFINITIONS' names")
    return name


def parameter_ranges(ranges: dict[str, dict[str, Any]], module: Any) -> dict[str, Any]:
    """The ranges as the SDK's parameter objects (``module``: v3's or v2's parameter module)."""
    built = {}
    for name, spec in ranges.items():
        if spec["type"] == "categorical":
            built[name] = module.CategoricalParameter([str(v) for v in spec["values"]])
            continue
        parameter = (
            module.IntegerParameter if spec["type"] == "integer" else module.ContinuousParameter
        )
        built[name] = parameter(spec["min"], spec["max"], spec.get("scaling", "Auto"))
    return built


def tuner_settings(
    args: argparse.Namespace, hyperparameters: dict[str, Any], parameter_module: Any
) -> dict[str, Any]:
    """What both SDKs' ``HyperparameterTuner`` take alike (``parameter_module``: the SDK's)."""
    ranges = parameter_ranges(tuning_ranges(args.tuning_ranges), parameter_module)
    return {
        "objective_metric_name": objective_metric(args, hyperparameters),
        "objective_type": "Minimize",
        "hyperparameter_ranges": ranges,
        "metric_definitions": METRIC_DEFINITIONS,
        "max_jobs": args.max_jobs,
        "max_parallel_jobs": args.max_parallel_jobs,
        "base_tuning_job_name": "snowflake-xgb",
    }


def launch_v3(args: argparse.Namespace, environment: dict, hyperparameters: dict) -> None:
    """SDK v3: ``ModelTrainer`` with the image as ``training_image``."""
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.shapes import MetricDefinition
    from sagemaker.core.training.configs import (
        Compute,
        InputData,
        Networking,
        OutputDataConfig,
        StoppingCondition,
    )
    from sagemaker.train import ModelTrainer
    from sagemaker.train.model_trainer import Mode

    # Without a session v3's local mode passes no AWS credentials or region to the hosts.
    session = Session(boto_session=boto3.Session(region_name=args.region))
    input_data = None
    if args.score_with:
        input_data = [InputData(channel_name=MODEL_CHANNEL, data_source=args.score_with)]
    if args.script_mode:
        # The code travels as an input channel (uploaded to S3 for a SageMaker job, mounted in
        # local mode); the image's `train` finds it there. v3's SourceCode would replace the
        # image's entry point with its own driver and skip the secrets bootstrap.
        input_data = [InputData(channel_name=CODE_CHANNEL, data_source=str(SCRIPT_DIR))]
        hyperparameters = {
            **hyperparameters,
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": CODE_CHANNEL_PATH,
        }
    settings: dict[str, Any] = {
        "training_image": args.image_uri,
        "sagemaker_session": session,
        "base_job_name": "snowflake-xgb",
        "environment": environment,
        "hyperparameters": hyperparameters,
        "stopping_condition": StoppingCondition(max_runtime_in_seconds=MAX_RUN_SECONDS),
    }
    if args.local:
        root = Path(args.local_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        settings.update(
            training_mode=Mode.LOCAL_CONTAINER,
            compute=Compute(instance_type="local", instance_count=args.instance_count),
            local_container_root=str(root),
        )
    else:
        settings.update(
            role=args.role,
            compute=Compute(instance_type=args.instance_type, instance_count=args.instance_count),
            output_data_config=OutputDataConfig(s3_output_path=args.output),
            # Hosts talk to each other (XGBoost's collective): encrypt that traffic too.
            networking=Networking(
                subnets=args.subnets,
                security_group_ids=args.security_groups,
                enable_inter_container_traffic_encryption=True,
            ),
        )
    trainer = ModelTrainer(**settings).with_metric_definitions(
        [MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in METRIC_DEFINITIONS]
    )
    if args.tune:
        tune_v3(args, trainer, hyperparameters)
        return
    # No data channel: the data comes from Snowflake, not S3 (a scoring job's model does).
    trainer.train(input_data_config=input_data, wait=not args.no_wait)
    if args.score_with and not args.no_wait:
        print("scored into:", args.target_table)
        return
    if args.local:
        print("model:", Path(args.local_root).resolve() / "compressed_artifacts" / "model.tar.gz")
        return
    job = trainer._latest_training_job  # v3 keeps the TrainingJob resource here
    if args.no_wait:
        print("started:", job.training_job_name)
    else:
        job.refresh()
        print("model:", job.model_artifacts.s3_model_artifacts)


def tune_v3(args: argparse.Namespace, trainer: Any, hyperparameters: dict) -> None:
    """SDK v3: ``HyperparameterTuner`` around the ``ModelTrainer``; the tuned hyperparameters
    replace the trainer's, the rest stay static."""
    from sagemaker.core import parameter
    from sagemaker.core.shapes import (
        HyperParameterTuningJobWarmStartConfig,
        ParentHyperParameterTuningJob,
    )
    from sagemaker.train.tuner import HyperparameterTuner

    warm_start = None
    if args.warm_start_from:
        warm_start = HyperParameterTuningJobWarmStartConfig(
            parent_hyper_parameter_tuning_jobs=[
                ParentHyperParameterTuningJob(hyper_parameter_tuning_job_name=args.warm_start_from)
            ],
            warm_start_type=WARM_START_TYPE,
        )
    tuner = HyperparameterTuner(
        model_trainer=trainer,
        warm_start_config=warm_start,
        **tuner_settings(args, hyperparameters, parameter),
    )
    # No data channel: the data comes from Snowflake.
    tuner.tune(job_name=args.tuning_job_name, wait=not args.no_wait)
    print("tuning job:", tuner.latest_tuning_job.hyper_parameter_tuning_job_name)


def launch_v2(args: argparse.Namespace, environment: dict, hyperparameters: dict) -> None:
    """SDK v2: ``Estimator`` with the image as ``image_uri``."""
    import boto3
    from sagemaker.estimator import Estimator

    code: dict[str, str] = {}
    if args.script_mode:
        # The SDK uploads source_dir as sourcedir.tar.gz and sets sagemaker_program and
        # sagemaker_submit_directory; the image's bootstrap runs first, then train.py.
        code = {"source_dir": str(SCRIPT_DIR), "entry_point": "train.py"}
    boto_session = boto3.Session(region_name=args.region)
    if args.local:
        from sagemaker.local import LocalSession

        root = Path(args.local_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        session = LocalSession(boto_session=boto_session)
        # The job's files under --local-root, not a temporary folder; the script's
        # folder mounted, not uploaded to S3.
        session.config = {"local": {"local_code": True, "container_root": str(root)}}
        placement = {
            "instance_type": "local",
            "role": args.role or "arn:aws:iam::000000000000:role/local-mode-needs-no-role",
            "output_path": f"file://{root}",
        }
    else:
        from sagemaker.session import Session

        session = Session(boto_session=boto_session)
        placement = {
            "instance_type": args.instance_type,
            "role": args.role,
            "output_path": args.output,
            "subnets": args.subnets,
            "security_group_ids": args.security_groups,
            # Hosts talk to each other (XGBoost's collective): encrypt that traffic too.
            "encrypt_inter_container_traffic": True,
        }
    estimator = Estimator(
        image_uri=args.image_uri,
        instance_count=args.instance_count,
        hyperparameters=hyperparameters,
        environment=environment,
        metric_definitions=METRIC_DEFINITIONS,
        base_job_name="snowflake-xgb",
        max_run=MAX_RUN_SECONDS,
        sagemaker_session=session,
        **placement,
        **code,
    )
    if args.tune:
        tune_v2(args, estimator, hyperparameters)
        return
    # No data channel: the data comes from Snowflake, not S3 (a scoring job's model does).
    inputs = {MODEL_CHANNEL: args.score_with} if args.score_with else None
    estimator.fit(inputs, wait=not args.no_wait)
    if args.score_with and not args.no_wait:
        print("scored into:", args.target_table)
    elif args.no_wait:
        print("started:", estimator.latest_training_job.name)
    else:
        print("model:", estimator.model_data)


def tune_v2(args: argparse.Namespace, estimator: Any, hyperparameters: dict) -> None:
    """SDK v2: ``HyperparameterTuner`` around the ``Estimator``."""
    from sagemaker import parameter
    from sagemaker.tuner import HyperparameterTuner, WarmStartConfig, WarmStartTypes

    warm_start = None
    if args.warm_start_from:
        warm_start = WarmStartConfig(WarmStartTypes(WARM_START_TYPE), {args.warm_start_from})
    tuner = HyperparameterTuner(
        estimator, warm_start_config=warm_start, **tuner_settings(args, hyperparameters, parameter)
    )
    # No inputs: the data comes from Snowflake.
    tuner.fit(job_name=args.tuning_job_name, wait=not args.no_wait)
    print("tuning job:", tuner.latest_tuning_job.name)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.update(sdk_environment(args))
    launch = launch_v3 if chosen_sdk(args.sdk) == "v3" else launch_v2
    launch(args, job_environment(args), job_hyperparameters(args))


if __name__ == "__main__":
    main()
