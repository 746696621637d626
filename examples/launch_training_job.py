"""Launch a 2-host snowflake_xgb training job with the SageMaker Python SDK.

    pip install sagemaker            # the SDK, on your machine (not in the image)
    python examples/launch_training_job.py \\
        --image-uri 123456789012.dkr.ecr.eu-west-1.amazonaws.com/snowflake-xgb:latest \\
        --role arn:aws:iam::123456789012:role/snowflake-xgb-training \\
        --secret-id snowflake/xgb-training --account myorg-myaccount \\
        --warehouse TRAINING_WH --output s3://my-bucket/snowflake-xgb/models

Algorithm mode (the default) trains on ``--table`` with the image's built-in job. With
``--script-mode`` the same image runs ``examples/script_mode/train.py`` (uploaded by the SDK
as ``source_dir``) after its secrets bootstrap. No data is staged in S3: the hosts read
Snowflake directly. The role needs the permissions in ``iam/training-role-policy.json``.

``METRIC_DEFINITIONS`` turns the job's per-round log lines into SageMaker metrics (CloudWatch
shows a tab as ``#011``, which is what the regexes match); ``tests/test_examples.py`` checks
them against the lines of a real run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# A number as XGBoost prints it: 0.51234, 1e-05, nan and inf included.
_NUMBER = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"

# One line per round on the first host: "[3]<TAB>train-rmse:0.51<TAB>validation-rmse:0.55".
METRIC_DEFINITIONS = [
    {"Name": "train:rmse", "Regex": r".*\[[0-9]+\].*#011train-rmse:" + _NUMBER},
    {"Name": "validation:rmse", "Regex": r".*\[[0-9]+\].*#011validation-rmse:" + _NUMBER},
    # Add one pair per eval_metric you set, e.g. for eval_metric=rmse,mae:
    {"Name": "train:mae", "Regex": r".*\[[0-9]+\].*#011train-mae:" + _NUMBER},
    {"Name": "validation:mae", "Regex": r".*\[[0-9]+\].*#011validation-mae:" + _NUMBER},
]

SCRIPT_DIR = Path(__file__).resolve().parent / "script_mode"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-uri", required=True, help="the image in your ECR (make push)")
    parser.add_argument("--role", required=True, help="the training role's ARN (see iam/)")
    parser.add_argument("--secret-id", required=True, help="Secrets Manager secret (name/ARN)")
    parser.add_argument("--account", required=True, help="Snowflake account identifier")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--database", default="DEMO")
    parser.add_argument("--schema", default="PUBLIC")
    parser.add_argument("--role-name", default=None, help="Snowflake role (optional)")
    parser.add_argument("--table", default="DEMO.PUBLIC.CALIFORNIA_HOUSING")
    parser.add_argument("--label", default="MEDHOUSEVAL")
    parser.add_argument("--output", required=True, help="s3://bucket/prefix for the model")
    parser.add_argument("--instance-type", default="ml.m5.xlarge")
    parser.add_argument("--instance-count", type=int, default=2)
    parser.add_argument("--subnets", nargs="*", default=None, help="VPC subnets (PrivateLink)")
    parser.add_argument("--security-groups", nargs="*", default=None)
    parser.add_argument("--script-mode", action="store_true", help="run script_mode/train.py")
    parser.add_argument("--no-wait", action="store_true", help="start the job and return")
    return parser.parse_args()


def main() -> None:
    # Imported here so that this file can be checked (and its METRIC_DEFINITIONS imported)
    # without the SDK installed.
    from sagemaker.estimator import Estimator

    args = parse_args()
    environment = {
        "SNOWFLAKE_SECRET_ID": args.secret_id,
        "SNOWFLAKE_ACCOUNT": args.account,
        "SNOWFLAKE_WAREHOUSE": args.warehouse,
        "SNOWFLAKE_DATABASE": args.database,
        "SNOWFLAKE_SCHEMA": args.schema,
    }
    if args.role_name:
        environment["SNOWFLAKE_ROLE"] = args.role_name

    hyperparameters: dict[str, str | int | float] = {
        "label": args.label,
        "validation_fraction": 0.2,
        "num_round": 200,
        "early_stopping_rounds": 10,
        "objective": "reg:squarederror",
        "eval_metric": "rmse,mae",
        "max_depth": 6,
        "eta": 0.1,
    }
    code: dict[str, str] = {}
    if args.script_mode:
        # The SDK uploads source_dir as sourcedir.tar.gz and sets sagemaker_program and
        # sagemaker_submit_directory; the image's bootstrap runs first, then train.py.
        code = {"source_dir": str(SCRIPT_DIR), "entry_point": "train.py"}
        hyperparameters = {
            "query": f"SELECT * FROM {args.table}",
            "label": args.label,
            "num_round": 200,
            "max_depth": 6,
            "eta": 0.1,
            "eval_metric": "rmse",
        }
    else:
        hyperparameters["table"] = args.table

    estimator = Estimator(
        image_uri=args.image_uri,
        role=args.role,
        instance_count=args.instance_count,
        instance_type=args.instance_type,
        hyperparameters=hyperparameters,
        environment=environment,
        metric_definitions=METRIC_DEFINITIONS,
        output_path=args.output,
        base_job_name="snowflake-xgb",
        max_run=4 * 3600,
        subnets=args.subnets,
        security_group_ids=args.security_groups,
        # Hosts talk to each other (XGBoost's collective): encrypt that traffic too.
        encrypt_inter_container_traffic=True,
        **code,
    )
    # No inputs: the data comes from Snowflake, not S3.
    estimator.fit(wait=not args.no_wait)
    if args.no_wait:
        print("started:", estimator.latest_training_job.name)
    else:
        print("model:", estimator.model_data)


if __name__ == "__main__":
    main()
