"""The SageMaker Python SDK's local mode runs our image on 2 hosts, with SDK v3 and with v2.

The documented launcher (``examples/launch_training_job.py --local``) runs in the SDK's own
virtual environment (``local_test/make_sdk_venv.sh``; the SDK is never a dependency of ours).
v3: ``ModelTrainer(training_mode=Mode.LOCAL_CONTAINER)``, hosts ``algo-1`` and ``algo-2``, the
image's own CMD. v2: ``Estimator(instance_type="local")``, hosts ``algo-<i>-<suffix>``, the
command ``train``, JSON-quoted string hyperparameters. Both use docker compose and the network
``sagemaker-local``; the stand-ins join that network under names unique to this test, so the
job reaches them as it would reach Snowflake and Secrets Manager. What a user checks afterwards:
the launcher succeeded, every host exited 0, the ``model.tar.gz`` it printed holds a model
XGBoost loads and its metadata, the metric definitions find the per-round lines in the logs,
and no credential is in any of it. Then the image serves that model as ``make local-serve``
does (``local_test/localmode.py``): its predictions for CSV and keyed JSON are
``Booster.predict``'s, and the server stops cleanly.

Keyless (v3, algorithm mode; one job more): ``--keyless`` and no Snowflake secret. The launcher
runs with the session of a role assumed in moto (``support.aws_roles``), which the SDK hands to
the containers; their STS endpoint is moto on ``sagemaker-local``, the front (which executes
each attestation against that STS) has the role's ARN registered for the service user, and the
connector may send the attestation to the front's host name there. The stand-ins are published
on loopback ports for the test to assume the role and register it. Beyond the checks above: the
hosts said they signed in by workload identity, the front refused nothing, and neither the
role's secret key, its session token nor an attestation is in the logs or archives. The model
is not served again: the password runs serve the same kind of model from the same image.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import compose_job
import pytest
import serve_locally
import xgboost
from support.aws_roles import ATTESTATION_PREFIX, assume_role, role_arn
from support.metrics import metric_values
from support.standins import StandIns

REPO = Path(__file__).resolve().parents[2]
SDK_NETWORK = "sagemaker-local"  # fixed by the SDK
SEED_ROWS = 5000
ROUNDS = 15
KEYLESS_ROLE = "xgb-sdk-training"
KEYLESS_USER = "SVC_XGB_SDK_WIF"

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]


# Each SDK's venv, as local_test/make_sdk_venv.sh makes them (.ci/run makes both).
SDK_VENVS = {"v3": REPO / ".work" / "sdk-venv", "v2": REPO / ".work" / "sdk-v2-venv"}


@dataclass
class SdkRun:
    sdk: str
    mode: str  # "algorithm" or "script"
    keyless: bool  # signed in with the job's role (workload identity), no secret
    model: Path | None  # the model.tar.gz the launcher printed
    returncode: int
    output: str  # the launcher's stdout and stderr: the SDK streams the hosts' logs there
    host_exit_codes: list[int]
    credentials: list[str]
    refusals: list[str]  # workload-identity logins the front refused


def _ensure_network() -> bool:
    """Create the SDK's network unless it exists; True when this test created it."""
    if (
        subprocess.run(
            ["docker", "network", "inspect", SDK_NETWORK], capture_output=True
        ).returncode
        == 0
    ):
        return False
    subprocess.run(
        ["docker", "network", "create", "--label", "snowflake-xgb.test=sdk-local", SDK_NETWORK],
        check=True, capture_output=True,
    )  # fmt: skip
    return True


def _host_exit_codes(project: str) -> list[int]:
    names = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
         "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    codes = []
    for name in sorted(names):
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", name],
                               capture_output=True, text=True, check=True)  # fmt: skip
        codes.append(int(state.stdout))
    return codes


# (SDK, mode, keyless): algorithm mode with both SDKs; script mode with v3, whose launcher passes
# the script as the input channel "code" (v2's source_dir is what the other container tests
# mirror); keyless sign-in with v3 only (the hosts do the same whichever SDK started them).
RUNS = [("v3", "algorithm", False), ("v2", "algorithm", False), ("v3", "script", False),
        ("v3", "algorithm", True)]  # fmt: skip


def _run_id(run: tuple[str, str, bool]) -> str:
    return f"sdk-{run[0]}-{run[1]}" + ("-keyless" if run[2] else "")


def _sign_in_options(
    job, standins, compose_cmd: list[str], keyless: bool
) -> tuple[list[str], dict[str, str], list[str], StandIns | None]:
    """The launcher's sign-in options, its AWS credentials, the values no log may hold and,
    keyless, where the test reaches the stand-ins: the secret's id and the stand-ins' AWS key,
    or ``--keyless`` with a role assumed in moto and registered with the front."""
    if not keyless:
        return (["--secret-id", standins.secret_id], standins.aws_credentials(),
                standins.credential_values(), None)  # fmt: skip
    reachable = StandIns(
        job.loopback_port(compose_cmd, "snowflake"),
        f"http://127.0.0.1:{job.loopback_port(compose_cmd, 'secretsmanager')}",
    )
    role = assume_role(reachable, KEYLESS_ROLE)
    reachable.front.workload_identities({KEYLESS_USER: role_arn(KEYLESS_ROLE)})
    options = [
        "--keyless", "--snowflake-user", KEYLESS_USER,
        # The connector sends an attestation only to a host it knows as Snowflake's.
        f"--env=SNOWFLAKE_WIF_ALLOWED_HOST_SUFFIXES={standins.snowflake_host}",
    ]  # fmt: skip
    leaks = [*standins.credential_values(), role.secret_access_key, role.session_token,
             ATTESTATION_PREFIX]  # fmt: skip
    return options, role.environ(), leaks, reachable


@pytest.fixture(scope="module", params=RUNS, ids=_run_id)
def sdk_job(images, compose_cmd, request):
    sdk, mode, keyless = request.param
    python = SDK_VENVS[sdk] / "bin" / "python"
    if not python.exists():
        message = f"no SDK {sdk} venv at {SDK_VENVS[sdk]}: run local_test/make_sdk_venv.sh"
        if os.environ.get("SNOWFLAKE_XGB_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from pytest_docker.plugin import get_docker_services

    suffix = secrets.token_hex(3)
    standins_job = compose_job.LocalJob.create(REPO / ".work" / "container-tests", 2, "unused")
    standins_job.network = SDK_NETWORK
    standins = compose_job.Standins(
        image=images["standins"],
        secret_id=f"snowflake-xgb/sdk-{suffix}",
        password="Pw-" + secrets.token_hex(16) + "-leakcheck",
        region="eu-west-1",
        aws_secret_access_key="AwsSk-" + secrets.token_hex(16) + "-leakcheck",
        rows=SEED_ROWS,
        snowflake_host=f"snowflake-{suffix}",
        secrets_host=f"secretsmanager-{suffix}",
        publish_on_loopback=keyless,
    )
    standins_job.logs_dir.mkdir(parents=True)
    standins_job.write_standins_compose(standins)
    root = standins_job.root / f"sdkjob{suffix}"
    failed_before = request.session.testsfailed
    created_network = _ensure_network()
    try:
        with get_docker_services(
            shlex.join(compose_cmd),
            str(standins_job.standins_file),
            f"{standins_job.project}-standins",
            ["up -d snowflake secretsmanager"],
            ["down -v"],
        ):
            prefix = standins_job.standins_compose(compose_cmd)
            compose_job.wait_healthy(prefix, ["snowflake", "secretsmanager"], timeout=180)
            compose_job.seed_standins(prefix, standins_job.logs_dir / "standin-seed.log")
            sign_in, aws_credentials, leaks, reachable = _sign_in_options(
                standins_job, standins, compose_cmd, keyless
            )
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(standins_job.root),
                **aws_credentials,
                "AWS_DEFAULT_REGION": standins.region,
                "AWS_CONFIG_FILE": str(standins_job.root / "no-aws-config"),
                "SAGEMAKER_USER_CONFIG_OVERRIDE": str(REPO / ".work" / "sagemaker-config.yaml"),
            }
            job_env = standins.job_environment()
            hidden = {"SNOWFLAKE_SECRET_ID", "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_WAREHOUSE",
                      "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA"}  # fmt: skip
            command = [
                str(python), str(REPO / "examples" / "launch_training_job.py"),
                "--sdk", sdk, "--local", "--local-root", str(root), "--instance-count", "2",
                "--image-uri", images["train"], *sign_in,
                "--account", job_env["SNOWFLAKE_ACCOUNT"],
                "--warehouse", job_env["SNOWFLAKE_WAREHOUSE"],
                *[f"--env={k}={v}" for k, v in job_env.items() if k not in hidden],
                "--hp", f"num_round={ROUNDS}",
                *(["--script-mode", "--hp", "validation_fraction=0.2"] if mode == "script" else []),
            ]  # fmt: skip
            try:
                res = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
                output = res.stdout + res.stderr
                # The compose project is named after the folder of the SDK's compose file:
                # --local-root itself (v3) or a temporary folder inside it (v2).
                compose_files = sorted(root.rglob("docker-compose.yaml"))
                codes = [c for f in compose_files for c in _host_exit_codes(f.parent.name)]
            finally:
                standins_job.save_standins_logs(compose_cmd)
                (standins_job.logs_dir / "launcher.log").write_text(locals().get("output", ""))
                for compose_file in root.rglob("docker-compose.yaml"):
                    project = ["-f", str(compose_file), "-p", compose_file.parent.name]
                    subprocess.run([*compose_cmd, *project, "down"], capture_output=True)
            model_lines = [line for line in output.splitlines() if line.startswith("model: ")]
            model = (
                Path(model_lines[-1][len("model: ") :].removeprefix("file://"))
                if model_lines
                else None
            )
            refusals = reachable.front.workload_identities()["refusals"] if reachable else []
            yield SdkRun(sdk, mode, keyless, model, res.returncode, output, codes, leaks, refusals)
    finally:
        if created_network:
            subprocess.run(["docker", "network", "rm", SDK_NETWORK], capture_output=True)
    if request.session.testsfailed == failed_before:
        shutil.rmtree(standins_job.root, ignore_errors=True)
    else:
        print(f"SDK local-mode test files kept in {standins_job.root}", file=sys.stderr)


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.isfile()
        }


def test_launcher_and_both_hosts_succeed(sdk_job):
    assert sdk_job.returncode == 0, sdk_job.output[-6000:]
    assert sdk_job.host_exit_codes == [0, 0], sdk_job.output[-6000:]
    assert sdk_job.model is not None and sdk_job.model.is_file(), sdk_job.output[-3000:]
    assert sdk_job.model.name == "model.tar.gz"
    # Each host says how it signed in; keyless: by the role, none refused, no password warning.
    keyless_lines = sdk_job.output.count("(workload identity); no secret")
    if sdk_job.keyless:
        assert keyless_lines >= 2, sdk_job.output[-3000:]  # one per host
        assert sdk_job.refusals == []
        assert "phasing out" not in sdk_job.output  # the password warning
    else:
        assert keyless_lines == 0


def _unpack(archive: Path, folder: Path) -> None:
    """model.tar.gz's files into ``folder``, as SageMaker unpacks it into /opt/ml/model."""
    for name, data in _members(archive).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def _model_files(run: SdkRun) -> tuple[xgboost.Booster, dict]:
    members = _members(run.model)
    assert {"xgboost-model", "metadata.json"} <= set(members), sorted(members)
    booster = xgboost.Booster()
    booster.load_model(bytearray(members["xgboost-model"]))
    return booster, json.loads(members["metadata.json"])


def test_model_archive_holds_a_loadable_model_and_its_metadata(sdk_job):
    booster, metadata = _model_files(sdk_job)
    assert len(metadata["feature_names"]) == booster.num_features() == 8
    if sdk_job.mode == "script":  # examples/script_mode/train.py's own metadata
        assert booster.num_boosted_rounds() == metadata["rounds_trained"] == ROUNDS
        assert metadata["validation_mae"] > 0
        assert "Invoking user script" in sdk_job.output
        return
    host_names = {"v3": r"algo-[12]", "v2": r"algo-[12]-[a-z0-9]{5}"}[sdk_job.sdk]
    assert len(metadata["hosts"]) == 2, metadata["hosts"]
    assert all(re.fullmatch(host_names, host) for host in metadata["hosts"]), metadata["hosts"]
    assert metadata["label"] == "MEDHOUSEVAL"
    assert booster.num_boosted_rounds() == metadata["best_iteration"] + 1
    assert 2 <= metadata["rounds_trained"] <= ROUNDS
    # validation_fraction=0.2: about 80% of the rows train, split over both hosts.
    assert all(n > 0 for n in metadata["rows_per_host"].values())
    assert 0.7 * SEED_ROWS < metadata["rows"] < 0.9 * SEED_ROWS


def test_metric_definitions_find_every_round_in_the_logs(sdk_job):
    values = metric_values(sdk_job.output)
    rounds = _model_files(sdk_job)[1]["rounds_trained"]
    names = ["train:rmse", "validation:rmse"]
    if sdk_job.mode == "algorithm":  # eval_metric=rmse,mae
        names += ["train:mae", "validation:mae"]
    for name in names:
        assert len(values[name]) == rounds, (name, values[name], sdk_job.output[-3000:])


def test_no_credential_in_logs_or_artifacts(sdk_job):
    places = {"launcher output": sdk_job.output.encode()}
    for archive in ("model.tar.gz", "output.tar.gz"):
        for name, data in _members(sdk_job.model.with_name(archive)).items():
            places[f"{archive}:{name}"] = data
    assert any(name.startswith("output.tar.gz:") for name in places), sorted(places)
    for value in sdk_job.credentials:
        for where, data in places.items():
            assert value.encode() not in data, f"a credential is in {where}"


def _served_by_the_password_runs(run: SdkRun) -> None:
    if run.keyless:
        pytest.skip("the password runs serve the same kind of model from the same image")


def test_the_image_serves_the_model_as_xgboost_predicts(sdk_job, images, tmp_path):
    """What `make local-serve` does after training: `docker run IMAGE serve` on the model."""
    _served_by_the_password_runs(sdk_job)
    _unpack(sdk_job.model, tmp_path)
    booster, metadata = _model_files(sdk_job)
    features = metadata["feature_names"]
    rows = [[row[f] for f in features] for row in serve_locally.SAMPLE_ROWS]
    expected = booster.predict(xgboost.DMatrix(rows, feature_names=features))
    (csv_type, csv_body), (json_type, json_body) = serve_locally.sample_requests(features)
    with serve_locally.serving(images["train"], tmp_path) as server:
        csv_status, csv_text = server.invoke(csv_body, csv_type, "text/csv")
        json_status, json_text = server.invoke(json_body, json_type, "application/json")
    assert (csv_status, json_status) == (200, 200), csv_text + json_text
    by_csv = [float(line) for line in csv_text.split()]
    by_keyed_json = [p["score"] for p in json.loads(json_text)["predictions"]]
    assert by_csv == pytest.approx(expected.tolist(), rel=1e-6)
    assert by_keyed_json == pytest.approx(expected.tolist(), rel=1e-6)


def test_localmode_serve_prints_predictions_and_stops_the_server(sdk_job, images, tmp_path):
    _served_by_the_password_runs(sdk_job)
    _unpack(sdk_job.model, tmp_path)
    res = subprocess.run(
        [sys.executable, str(REPO / "local_test" / "localmode.py"), "serve", str(tmp_path),
         "--image", images["train"]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("-> 200") == 2, res.stdout
    assert "server stopped (exit 0)" in res.stderr, res.stderr  # clean shutdown on SIGTERM
    container = re.search(r"\(container (\S+)\)", res.stderr).group(1)
    gone = subprocess.run(["docker", "inspect", container], capture_output=True)
    assert gone.returncode != 0, f"container {container} left behind"
