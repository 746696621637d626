"""Serve a trained snowflake_xgb model with our image: a real-time endpoint or a batch transform.

    pip install sagemaker            # the SDK, on your machine (not in the image); v3 today
    # a real-time endpoint, tried with one CSV row and the same row as keyed JSON
    python examples/deploy_model.py endpoint \\
        --image-uri 123456789012.dkr.ecr.eu-west-1.amazonaws.com/snowflake-xgb:latest \\
        --role arn:aws:iam::123456789012:role/snowflake-xgb-serving \\
        --model-data s3://my-bucket/snowflake-xgb/models/<job>/output/model.tar.gz \\
        --name snowflake-xgb-demo --try-row MEDINC=8.3,HOUSEAGE=41,AVEROOMS=6.9,...
    # a batch transform of every file under an S3 prefix (CSV, one row per line, no header)
    python examples/deploy_model.py transform --image-uri ... --role ... --model-data ... \\
        --input s3://my-bucket/to-score/ --output s3://my-bucket/scored/
    # remove the endpoint, its configuration and the model
    python examples/deploy_model.py delete --name snowflake-xgb-demo

The model is the training job's ``model.tar.gz`` (``xgboost-model`` + ``metadata.json``);
SageMaker unpacks it into ``/opt/ml/model`` and runs the image with ``serve``. The request
formats (``--content-type``), answers (``--accept``) and settings (``--inference-output`` is
``SAGEMAKER_INFERENCE_OUTPUT``, ``--workers`` is ``SAGEMAKER_MODEL_SERVER_WORKERS``) are in
docs/serving.md.

SDK v3 (``pip install sagemaker``) creates the resources with ``sagemaker.core.resources``
(``Model``, ``EndpointConfig``, ``Endpoint``, ``TransformJob``): our image brings its own
server, so nothing needs ``ModelBuilder``'s packaging. SDK v2 (``pip install 'sagemaker<3'``)
uses ``sagemaker.model.Model`` with ``deploy()`` and ``transformer()``. ``--sdk`` insists on
one; by default the installed SDK decides. The SDKs are imported inside the functions that use
them, so this file imports with either SDK or none.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

CSV = "text/csv"
JSON = "application/json"
ACCEPT_TYPES = [CSV, JSON, "application/jsonlines"]
CONTENT_TYPES = [CSV, JSON, "application/jsonlines", "text/libsvm"]
MAX_PAYLOAD_MB = 6  # SageMaker's default MaxPayloadInMB (and a real-time request's limit)
# Batch transform: the server answers one prediction per line, so SplitType=Line inputs and
# AssembleWith=Line outputs line up record for record.
TRANSFORM_ENVIRONMENT = {"SAGEMAKER_BATCH": "true"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdk", choices=["auto", "v3", "v2"], default="auto")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    sub = parser.add_subparsers(dest="command", required=True)

    def serving(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--image-uri", required=True, help="the image in your ECR (make push)")
        p.add_argument("--role", required=True, help="role SageMaker assumes to serve (ECR, S3)")
        p.add_argument("--model-data", required=True, help="s3://.../model.tar.gz of a job")
        p.add_argument("--instance-type", default="ml.m5.large")
        p.add_argument("--instance-count", type=int, default=1)
        p.add_argument("--inference-output", default="",
                       help="classifiers: e.g. predicted_label,probability")  # fmt: skip
        p.add_argument(
            "--workers", type=int, help="SAGEMAKER_MODEL_SERVER_WORKERS (default: cores)"
        )
        return p

    endpoint = serving("endpoint", "create a real-time endpoint and try it")
    endpoint.add_argument("--name", required=True, help="endpoint (and model) name")
    endpoint.add_argument("--try-row", metavar="COL=VALUE,...",
                          help="a row in training order, sent as CSV and keyed JSON")  # fmt: skip
    endpoint.add_argument("--accept", choices=ACCEPT_TYPES, default=JSON)
    transform = serving("transform", "run a batch transform job")
    transform.add_argument("--input", required=True, help="s3:// prefix of the files to score")
    transform.add_argument("--output", required=True, help="s3:// prefix for the results")
    transform.add_argument("--content-type", choices=CONTENT_TYPES, default=CSV)
    transform.add_argument("--accept", choices=ACCEPT_TYPES, default=CSV)
    delete = sub.add_parser("delete", help="delete an endpoint, its configuration and model")
    delete.add_argument("--name", required=True)
    return parser.parse_args(argv)


def serving_environment(args: argparse.Namespace) -> dict[str, str]:
    """The model server's settings (the serve command reads these)."""
    environment = {}
    if args.inference_output:
        environment["SAGEMAKER_INFERENCE_OUTPUT"] = args.inference_output
    if args.workers:
        environment["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(args.workers)
    return environment


def sample_requests(try_row: str) -> list[tuple[str, bytes]]:
    """One row as (content type, body): CSV in the given order, and JSON keyed by column name."""
    row: dict[str, float] = {}
    for item in try_row.split(","):
        column, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--try-row takes COLUMN=VALUE pairs, got {item!r}")
        row[column.strip()] = float(value)
    return [
        (CSV, ",".join(str(v) for v in row.values()).encode()),
        (JSON, json.dumps(row).encode()),
    ]


def _job_name(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


# --- SDK v3: sagemaker.core.resources --------------------------------------------------------
def run_v3(args: argparse.Namespace) -> None:
    import boto3
    from sagemaker.core.resources import Endpoint, EndpointConfig, Model, TransformJob
    from sagemaker.core.shapes import (
        ContainerDefinition,
        ProductionVariant,
        TransformDataSource,
        TransformInput,
        TransformOutput,
        TransformResources,
        TransformS3DataSource,
    )

    session = boto3.Session(region_name=args.region)
    if args.command == "delete":
        Endpoint.get(endpoint_name=args.name, session=session).delete()
        EndpointConfig.get(endpoint_config_name=args.name, session=session).delete()
        Model.get(model_name=args.name, session=session).delete()
        print("deleted endpoint, endpoint configuration and model", args.name)
        return

    model_name = args.name if args.command == "endpoint" else _job_name("snowflake-xgb")
    model = Model.create(
        model_name=model_name,
        primary_container=ContainerDefinition(
            image=args.image_uri,
            model_data_url=args.model_data,
            environment=serving_environment(args),
        ),
        execution_role_arn=args.role,
        session=session,
    )
    if args.command == "endpoint":
        EndpointConfig.create(
            endpoint_config_name=args.name,
            production_variants=[
                ProductionVariant(
                    variant_name="AllTraffic",
                    model_name=model.model_name,
                    initial_instance_count=args.instance_count,
                    instance_type=args.instance_type,
                )
            ],
            session=session,
        )
        endpoint = Endpoint.create(
            endpoint_name=args.name, endpoint_config_name=args.name, session=session
        )
        endpoint.wait_for_status("InService", timeout=1800)
        print("endpoint in service:", endpoint.endpoint_name)
        for content_type, body in sample_requests(args.try_row) if args.try_row else []:
            reply = endpoint.invoke(body=body, content_type=content_type, accept=args.accept)
            data = reply.body.read() if hasattr(reply.body, "read") else reply.body
            print(
                f"{content_type} -> {args.accept}:",
                data.decode() if isinstance(data, bytes) else data,
            )
        return

    job = TransformJob.create(
        transform_job_name=model_name,
        model_name=model.model_name,
        transform_input=TransformInput(
            data_source=TransformDataSource(
                s3_data_source=TransformS3DataSource(s3_data_type="S3Prefix", s3_uri=args.input)
            ),
            content_type=args.content_type,
            split_type="Line",  # records are lines; one prediction per line comes back
        ),
        transform_output=TransformOutput(
            s3_output_path=args.output, accept=args.accept, assemble_with="Line"
        ),
        transform_resources=TransformResources(
            instance_type=args.instance_type, instance_count=args.instance_count
        ),
        batch_strategy="MultiRecord",  # as many lines per request as fit in MaxPayloadInMB
        max_payload_in_mb=MAX_PAYLOAD_MB,
        environment=TRANSFORM_ENVIRONMENT,
        session=session,
    )
    job.wait(timeout=6 * 3600)
    print("transform done:", args.output)


# --- SDK v2: sagemaker.model.Model -------------------------------------------------------------
def run_v2(args: argparse.Namespace) -> None:
    import boto3
    from sagemaker.session import Session

    session = Session(boto_session=boto3.Session(region_name=args.region))
    if args.command == "delete":
        from sagemaker.predictor import Predictor

        predictor = Predictor(args.name, sagemaker_session=session)
        predictor.delete_model()  # reads the model's name from the endpoint configuration
        predictor.delete_endpoint(delete_endpoint_config=True)
        print("deleted", args.name)
        return

    from sagemaker.model import Model
    from sagemaker.predictor import Predictor

    model = Model(
        image_uri=args.image_uri,
        model_data=args.model_data,
        role=args.role,
        env=serving_environment(args),
        predictor_cls=Predictor,
        sagemaker_session=session,
    )
    if args.command == "endpoint":
        predictor: Any = model.deploy(
            initial_instance_count=args.instance_count,
            instance_type=args.instance_type,
            endpoint_name=args.name,
        )
        print("endpoint in service:", predictor.endpoint_name)
        for content_type, body in sample_requests(args.try_row) if args.try_row else []:
            data = predictor.predict(
                body, initial_args={"ContentType": content_type, "Accept": args.accept}
            )
            print(f"{content_type} -> {args.accept}:", data.decode())
        return

    transformer = model.transformer(
        instance_count=args.instance_count,
        instance_type=args.instance_type,
        output_path=args.output,
        accept=args.accept,
        assemble_with="Line",
        strategy="MultiRecord",
        max_payload=MAX_PAYLOAD_MB,
        env=TRANSFORM_ENVIRONMENT,
    )
    transformer.transform(args.input, content_type=args.content_type, split_type="Line")
    transformer.wait()
    print("transform done:", args.output)


def main(argv: list[str] | None = None) -> None:
    from launch_training_job import chosen_sdk  # the sibling example: one rule for both

    args = parse_args(argv)
    (run_v3 if chosen_sdk(args.sdk) == "v3" else run_v2)(args)


if __name__ == "__main__":
    main()
