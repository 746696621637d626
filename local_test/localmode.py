#!/usr/bin/env python3
"""Local mode for the snowflake_xgb image: an N-host SageMaker-like training job on docker compose.

The command line (what ``make local``, ``make local-serve`` and ``make clean`` run):

    python local_test/localmode.py run --hosts 2          (what ``make local`` runs)
    python local_test/localmode.py run --hosts 2 --serve  (what ``make local-serve`` runs)
    python local_test/localmode.py serve .work/local/<job>/model --image snowflake-xgb:latest
    python local_test/localmode.py run --help
    python local_test/localmode.py down .work/local/sfxgb-local-<suffix>   (after run --keep)

``run`` lays a job out the way the SageMaker Python SDK's local mode (``instance_type="local"``)
does and runs it (``compose_job``): by default against stand-ins for Snowflake and AWS Secrets
Manager and STS on the job's own network, seeded with the demo table and a secret, from which
nothing may leave the machine. With ``--no-standins`` the job talks to a real Snowflake account
and real AWS instead: pass the settings with ``--env-file``/``--env`` and AWS credentials in the
environment (see docs/container.md). ``serve`` (and ``run --serve``) then serves a model folder
from the same image, as SageMaker hosting does, and prints a few predictions
(``serve_locally``). ``down`` removes what ``run --keep`` left up.

Standard library only: the machine's python runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The machine's python runs this script without the package installed: the package's
# standard-library-only modules (its /opt/ml layout) are read from the repository.
sys.path.append(str(REPO))

from compose_job import (  # noqa: E402
    LocalJob,
    Standins,
    compose_command,
    docker_available,
    log,
    start_standins,
)
from serve_locally import serve_and_predict  # noqa: E402

DEFAULT_WORKDIR = REPO / ".work" / "local"
DEFAULT_HYPERPARAMETERS = {
    "table": "DEMO.PUBLIC.CALIFORNIA_HOUSING",
    "label": "MEDHOUSEVAL",
    "num_round": "50",
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "validation_fraction": "0.2",
    "max_depth": "6",
    "eta": "0.2",
}


def _parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{what} must look like KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _read_env_file(path: str) -> dict[str, str]:
    out = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.update(_parse_pairs([line.removeprefix("export ").strip()], "env file line"))
    return out


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run an N-host snowflake_xgb training job locally, the way the SageMaker "
        "SDK's local mode runs it.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run one job (default: against seeded stand-ins)")
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--image", default="snowflake-xgb:latest")
    p.add_argument("--standins-image", default="snowflake-xgb-standins:latest")
    p.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="hyperparameter (repeatable); overrides the demo defaults")  # fmt: skip
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment variable for the hosts (repeatable)")  # fmt: skip
    p.add_argument("--env-file", help="file of KEY=VALUE lines for the hosts")
    p.add_argument("--no-standins", action="store_true",
                   help="use a real Snowflake account and real AWS (settings via --env/--env-file, "
                   "AWS credentials from this environment)")  # fmt: skip
    p.add_argument("--rows", type=int, help="rows to seed (default: the seed script's)")
    p.add_argument("--region", default=os.environ.get("AWS_REGION")
                   or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")  # fmt: skip
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the training job")
    p.add_argument("--keep", action="store_true", help="leave containers and network up")
    p.add_argument("--serve", action="store_true",
                   help="then serve the model from the image, print a few predictions")  # fmt: skip
    sv = sub.add_parser("serve", help="serve a model folder and print a few predictions")
    sv.add_argument("model_dir", help="a folder with xgboost-model and metadata.json")
    sv.add_argument("--image", default="snowflake-xgb:latest")
    d = sub.add_parser("down", help="remove the containers and network of jobs run with --keep")
    d.add_argument("job_dirs", nargs="+", help="job folders, e.g. .work/local/sfxgb-local-abcde")
    return parser


def job_environment(
    args: argparse.Namespace, job: LocalJob, standins: Standins | None
) -> dict[str, str]:
    """The hosts' environment, as the SDK passes it: AWS credentials, AWS_REGION and
    TRAINING_JOB_NAME, then the stand-ins' settings and the user's own."""
    env: dict[str, str] = {}
    if standins is None:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if os.environ.get(key):
                env[key] = os.environ[key]
    else:
        env.update(standins.aws_credentials())
    env["AWS_REGION"] = args.region
    env["TRAINING_JOB_NAME"] = job.project
    if standins is not None:
        env.update(standins.job_environment())
    if args.env_file:
        env.update(_read_env_file(args.env_file))
    env.update(_parse_pairs(args.env, "--env"))
    return env


def run(args: argparse.Namespace) -> int:
    """``run``: one job (with its stand-ins unless ``--no-standins``), then ``--serve``."""
    compose = compose_command()
    job = LocalJob.create(Path(args.workdir), args.hosts, args.image)
    job.write_configs({**DEFAULT_HYPERPARAMETERS, **_parse_pairs(args.hp, "--hp")})
    standins = None
    if not args.no_standins:
        standins = Standins(image=args.standins_image, region=args.region, rows=args.rows)
    job.write_job_compose(job_environment(args, job, standins))

    log(f"job {job.project}: hosts {', '.join(job.hosts)}; files in {job.root}")
    # Against the stand-ins nothing may leave the machine: the network has no route out.
    job.create_network(internal=standins is not None)
    result = None
    try:
        if standins:
            job.write_standins_compose(standins)
            start_standins(job, standins, compose)
        result = job.run_training(compose, timeout=args.timeout)
    finally:
        if standins:
            job.save_standins_logs(compose)
        if not args.keep:
            job.down(compose, standins=standins is not None)

    for h in result["hosts"]:
        log(f"{h['host']} ({h['container']}): exit {h['exit_code']}, log {h['log']}")
    if not result["ok"]:
        log(f"job FAILED: see {job.root}/result.json and the failure files under "
            f"{job.root}/<host>/output/")  # fmt: skip
        return 1
    log(f"job done in {result['seconds']}s")
    print(f"Model: {job.model_dir / 'xgboost-model'}")
    print(f"Metadata: {job.model_dir / 'metadata.json'}")
    if args.serve:
        return serve_and_predict(args.image, job.model_dir)
    return 0


def down(job_dirs: list[str]) -> int:
    """``down``: remove the containers and networks of jobs run with ``--keep``."""
    compose = compose_command()
    for job_dir in map(Path, job_dirs):
        if not (job_dir / "docker-compose.yaml").is_file():
            log(f"{job_dir}: not a job folder, skipped")
            continue
        job = LocalJob(job_dir.resolve(), job_dir.resolve().name, [], "", "", {})
        job.network = f"{job.project}-net"
        job.down(compose, standins=job.standins_file.is_file())
        log(f"{job.project}: down")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.cmd == "down":
        return down(args.job_dirs)
    reason = docker_available()
    if reason:
        log(reason)
        return 2
    if args.cmd == "serve":
        return serve_and_predict(args.image, Path(args.model_dir))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
