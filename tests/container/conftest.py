"""Fixtures for the container tests: build the images, start the stand-ins, run a job.

The stand-ins (Snowflake and Secrets Manager) run as their own compose project, brought up and
torn down by pytest-docker's ``get_docker_services``; the training job runs through
``local_test/compose_job.py`` exactly as ``make local`` runs it (the way the SageMaker SDK's
local mode does). Every compose project, container and network here carries a name unique to
this test session, and teardown removes only those.

Environment:
  SNOWFLAKE_XGB_REQUIRE_DOCKER=1  fail (instead of skip) when no Docker engine answers
                                  (.ci/run sets it)
  SNOWFLAKE_XGB_TEST_TAG          tag of the images built for the tests (default: test)
  LOCAL_BASE, BASE_IMAGE, ...     passed on to docker/build.sh (see the Makefile)
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import compose_job
import pytest
from localmode import DEFAULT_HYPERPARAMETERS

REPO = Path(__file__).resolve().parents[2]
SEED_ROWS = 20640  # the size of the real California housing data set
HOSTS = 2


def pytest_collection_modifyitems(config, items):
    """Container tests: skipped, with the reason, where no Docker engine answers."""
    container_items = [i for i in items if i.get_closest_marker("container")]
    if not container_items:
        return
    reason = compose_job.docker_available()
    if reason is None:
        return
    if os.environ.get("SNOWFLAKE_XGB_REQUIRE_DOCKER") == "1":
        # Fail loudly rather than pass by skipping (CI provides an engine).
        raise pytest.UsageError(f"container tests need a Docker engine: {reason}")
    for item in container_items:
        item.add_marker(pytest.mark.skip(reason=f"needs a Docker engine: {reason}"))


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    return compose_job.compose_command()


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Build the training image and the stand-ins image (layers cached between runs)."""
    tag = os.environ.get("SNOWFLAKE_XGB_TEST_TAG", "test")
    env = {**os.environ, "IMAGE": "snowflake-xgb", "TAG": tag}
    started = time.monotonic()
    res = subprocess.run(
        [str(REPO / "docker" / "build.sh"), "--standins"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if res.returncode != 0:
        pytest.fail(f"image build failed:\n{res.stdout[-6000:]}\n{res.stderr[-6000:]}")
    print(f"images built in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return {"train": f"snowflake-xgb:{tag}", "standins": f"snowflake-xgb-standins:{tag}"}


@dataclass
class JobRun:
    job: object  # compose_job.LocalJob
    standins: object  # compose_job.Standins
    result: dict
    seed_rows: int


def _local_job(
    image: str, standins_image: str, hyperparameters: dict, compose_cmd: list[str], request
):
    """Run a 2-host job of ``image`` against freshly seeded stand-ins; yield what it did.

    Its files live in .work/container-tests/<job> (not pytest's tmp folders, which other pytest
    sessions on the same machine may prune meanwhile); removed after a passing module.
    """
    from pytest_docker.plugin import get_docker_services

    job = compose_job.LocalJob.create(REPO / ".work" / "container-tests", HOSTS, image)
    failed_before = request.session.testsfailed
    # Distinctive credential values, to look for afterwards in every log and file.
    standins = compose_job.Standins(
        image=standins_image,
        secret_id=f"snowflake-xgb/test-{job.project}",
        user="SFXGB_TEST_USER",
        password="Pw-" + secrets.token_hex(16) + "-leakcheck",
        region="eu-west-1",
        aws_secret_access_key="AwsSk-" + secrets.token_hex(16) + "-leakcheck",
        rows=SEED_ROWS,
    )
    job.write_configs(hyperparameters)
    env = {
        **standins.aws_credentials(),
        "AWS_REGION": standins.region,
        "TRAINING_JOB_NAME": job.project,
        **standins.job_environment(),
    }
    job.write_job_compose(env)
    job.write_standins_compose(standins)

    job.create_network()
    try:
        with get_docker_services(
            shlex.join(compose_cmd),
            str(job.standins_file),
            f"{job.project}-standins",
            ["up -d snowflake secretsmanager"],
            ["down -v"],
        ):
            prefix = job.standins_compose(compose_cmd)
            compose_job.wait_healthy(prefix, ["snowflake", "secretsmanager"], timeout=180)
            compose_job.seed_standins(prefix, job.logs_dir / "standin-seed.log")
            try:
                result = job.run_training(compose_cmd, timeout=900)
            finally:
                job.save_standins_logs(compose_cmd)
                subprocess.run([*job.job_compose(compose_cmd), "down", "-v"], capture_output=True)
            yield JobRun(job, standins, result, SEED_ROWS)
    finally:
        job.remove_network()
    if request.session.testsfailed == failed_before:
        shutil.rmtree(job.root, ignore_errors=True)
    else:
        print(f"container test files kept in {job.root}", file=sys.stderr)


@pytest.fixture(scope="module")
def distributed_job(images, compose_cmd, request):
    """The built-in algorithm on 2 hosts, run once for all the tests that look at it."""
    hyperparameters = {**DEFAULT_HYPERPARAMETERS, "num_round": "30"}
    yield from _local_job(
        images["train"], images["standins"], hyperparameters, compose_cmd, request
    )


@pytest.fixture(scope="module")
def extended_image(images):
    """Our image extended as other teams do (examples/Dockerfile.extend): their script on top."""
    tag = images["train"].replace("snowflake-xgb:", "snowflake-xgb-extended:")
    build = subprocess.run(
        ["docker", "build", "-f", "examples/Dockerfile.extend",
         "--build-arg", f"BASE_IMAGE={images['train']}", "-t", tag, "examples"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"extension build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}")
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


@pytest.fixture(scope="module")
def script_mode_job(extended_image, images, compose_cmd, request):
    """The extended image's own script (script mode, using snowflake_xgb.api) on 2 hosts."""
    hyperparameters = {
        "query": "SELECT * FROM DEMO.PUBLIC.CALIFORNIA_HOUSING",
        "label": "MEDHOUSEVAL",
        "num_round": "10",
        "validation_fraction": "0.2",
    }
    yield from _local_job(extended_image, images["standins"], hyperparameters, compose_cmd, request)
