"""The image, end to end: a 2-host job in containers, laid out as SageMaker's local mode does.

Builds the training and stand-ins images, starts fakesnow and moto servers in containers,
seeds the demo table and a secret with distinctive credential values, runs two training
containers named ``algo-<i>-<suffix>`` (hostnames are container ids, as in the SDK's local
mode) with ``docker compose up --abort-on-container-exit``, then checks what they left.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from standin_servers import free_port, serve, standins_bin

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.container, pytest.mark.timeout(2400)]

METRIC_LINE = re.compile(r"\[\d+\]\s+train-rmse:[0-9.]+\s+validation-rmse:[0-9.]+")


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def test_image_contents(images):
    """`train` on the PATH, the entry point set, xgboost-cpu (not CUDA), no compiler, no caches;
    the locks' Python, and sagemaker-training's C extension (built in the image's build stage)
    answering as SageMaker's MPI launcher uses it: the host name from resourceconfig.json."""
    script = (
        "set -e; command -v train; echo MODULE=$SAGEMAKER_TRAINING_MODULE; "
        "python -c 'import sys; print(\"PYTHON=%d.%d\" % sys.version_info[:2])'; "
        "mkdir -p /opt/ml/input/config; "
        'echo \'{"current_host": "algo-7", "hosts": ["algo-7"]}\' '
        ">/opt/ml/input/config/resourceconfig.json; "
        "echo HOSTNAME=$(LD_PRELOAD=$(python -c 'import gethostname as g; print(g.__file__)') "
        "hostname); "
        "if command -v gcc || command -v cc; then echo COMPILER-PRESENT; fi; "
        "pip list 2>/dev/null | grep -i '^xgboost'; "
        "ls -d /root/.cache 2>/dev/null && echo CACHE-PRESENT; "
        "python -c 'import snowflake_xgb.training, xgboost as x; "
        'print(x.build_info()["USE_CUDA"])\''
    )
    res = subprocess.run(
        ["docker", "run", "--rm", images["train"], "sh", "-c", script],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = res.stdout
    assert res.returncode == 0, res.stdout + res.stderr
    assert "/opt/venv/bin/train" in out
    assert "MODULE=snowflake_xgb.training:main" in out
    assert f"PYTHON={(REPO / 'docker' / 'locks' / 'python-version').read_text().strip()}" in out
    assert "HOSTNAME=algo-7" in out
    assert "COMPILER-PRESENT" not in out
    assert "CACHE-PRESENT" not in out
    assert re.search(r"^xgboost-cpu\s", out, re.M), out
    assert not re.search(r"^xgboost\s", out, re.M), out
    assert out.strip().splitlines()[-1] == "False"  # USE_CUDA


def test_push_without_credentials_says_so(images, tmp_path):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    res = subprocess.run(
        ["make", "-s", "push", f"PYTHON={sys.executable}", "REGION=eu-west-1",
         f"TAG={images['train'].split(':')[1]}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode != 0
    assert "no AWS credentials" in res.stderr, res.stderr


def test_push_creates_the_repository_and_logs_in(images, tmp_path):
    """Against moto's ECR and STS: account from STS, repository created when missing, then
    `docker login` to the registry ECR names (moto's registry does not exist: login fails)."""
    port = free_port()
    moto = [str(standins_bin() / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with serve(moto, port, tmp_path / "moto.log"):
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(tmp_path),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        }
        image, tag = images["train"].split(":")
        res = subprocess.run(
            [sys.executable, str(REPO / "docker" / "push_ecr.py"), image, "--tag", tag,
             "--repository", "sfxgb-push-test", "--region", "eu-west-1"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        ecr = boto3.client(
            "ecr", region_name="eu-west-1", endpoint_url=endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        repos = ecr.describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["sfxgb-push-test"], res.stderr
    assert "creating ECR repository sfxgb-push-test in eu-west-1" in res.stderr
    assert res.returncode != 0 and "docker login" in res.stderr, res.stderr


def test_two_host_job_succeeds(distributed_job):
    job, result = distributed_job.job, distributed_job.result
    report = json.dumps(result, indent=2)
    assert not result["timed_out"], report
    assert [h["exit_code"] for h in result["hosts"]] == [0] * len(job.hosts), (
        report + "\n" + "\n".join(_text(Path(h["log"]))[-3000:] for h in result["hosts"])
    )
    for host in job.hosts:
        assert not (job.output_dir(host) / "failure").exists(), _text(
            job.output_dir(host) / "failure"
        )


def test_containers_look_like_sdk_local_mode(distributed_job):
    """Host names carry a random suffix; the hostname inside is not the SageMaker host name."""
    job, result = distributed_job.job, distributed_job.result
    for h in result["hosts"]:
        assert re.fullmatch(r"algo-\d+-[a-z0-9]{5}", h["host"])
        assert h["container"] != h["host"]
    config = json.loads((job.root / job.hosts[0] / "input/config/resourceconfig.json").read_text())
    assert set(config) == {"current_host", "hosts"}


def _finished_at(docker_time: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds, as an aware datetime (microseconds)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", docker_time)
    assert m, docker_time
    micros = int((m.group(2) or "0")[:6].ljust(6, "0"))
    return datetime.fromisoformat(m.group(1)).replace(microsecond=micros, tzinfo=timezone.utc)


def test_workers_exit_after_the_model_is_written(distributed_job):
    """The SDK's local mode runs `up --abort-on-container-exit`: the first host to exit stops
    the others. A worker that exits before the coordinator has written the model can get the
    coordinator killed mid-write; so every worker must exit after the model is on disk."""
    job, result = distributed_job.job, distributed_job.result
    model_file = job.model_dir / "xgboost-model"
    assert model_file.is_file()
    written = datetime.fromtimestamp(model_file.stat().st_mtime, tz=timezone.utc)
    coordinator = sorted(job.hosts)[0]
    for h in result["hosts"]:
        if h["host"] != coordinator:
            finished = _finished_at(h["finished_at"])
            assert finished >= written, (
                f"{h['host']} exited {(written - finished).total_seconds():.3f}s before the "
                "coordinator wrote the model: under the SDK's local mode that can stop the "
                "coordinator before it is done (workers should wait for the model, e.g. a final "
                "collective step after the coordinator has written it)"
            )


def test_model_and_metadata_load(distributed_job):
    import xgboost

    job = distributed_job.job
    model_file = job.model_dir / "xgboost-model"
    assert model_file.is_file()
    booster = xgboost.Booster(model_file=str(model_file))
    assert booster.num_boosted_rounds() > 0
    assert booster.num_features() == 8
    metadata = json.loads((job.model_dir / "metadata.json").read_text())
    assert "MEDHOUSEVAL" in json.dumps(metadata).upper()


def _shards(job) -> list[dict]:
    shards = []
    for host in job.hosts:
        path = job.output_dir(host) / "data" / f"shard-{host}.json"
        assert path.is_file(), f"no shard report for {host}"
        shards.append(json.loads(path.read_text()))
    return sorted(shards, key=lambda s: s["rank"])


def _check_split(parts: list[dict], what: str) -> int:
    """Contiguous, disjoint, starting at row 0, one query id; returns the rows covered."""
    assert parts[0]["row_start"] == 0, what
    for a, b in itertools.pairwise(parts):
        assert a["row_end"] == b["row_start"], f"{what}: gap or overlap between ranks"
    for p in parts:
        assert p["rows"] == p["row_end"] - p["row_start"], what
        assert p["rows"] >= 0, what
    ids = {p["query_id"] for p in parts}
    assert len(ids) == 1 and None not in ids and "" not in ids, f"{what}: query ids {ids}"
    if "total_rows" in parts[0]:
        assert parts[-1]["row_end"] == parts[0]["total_rows"], what
    return parts[-1]["row_end"]


def test_exactly_once_split(distributed_job):
    job = distributed_job.job
    shards = _shards(job)
    assert [s["rank"] for s in shards] == list(range(len(job.hosts)))
    assert sorted(s["host"] for s in shards) == sorted(job.hosts)
    for s in shards:
        assert sorted(s["hosts"]) == sorted(job.hosts)
    total = _check_split(shards, "training")
    if all("validation" in s for s in shards):
        total += _check_split([s["validation"] for s in shards], "validation")
        assert shards[0]["validation"]["query_id"] != shards[0]["query_id"]
    assert total == distributed_job.seed_rows
    # Each host's share is its contiguous floor(i*n/N) slice.
    n, hosts = shards[-1]["row_end"], len(shards)
    for i, s in enumerate(shards):
        assert (s["row_start"], s["row_end"]) == (i * n // hosts, (i + 1) * n // hosts)


def test_metric_lines_in_logs(distributed_job):
    job, result = distributed_job.job, distributed_job.result
    logs = {h["host"]: _text(Path(h["log"])) for h in result["hosts"]}
    coordinator = sorted(job.hosts)[0]
    assert METRIC_LINE.search(logs[coordinator]), logs[coordinator][-3000:]


def _assert_no_credential_written(run) -> None:
    """No credential value in any log (hosts, stand-ins, seed, compose), output or model file."""
    job, secrets_ = run.job, run.standins.credential_values()
    files = [p for p in job.logs_dir.rglob("*") if p.is_file()]
    files += [p for p in job.model_dir.rglob("*") if p.is_file()]
    for host in job.hosts:
        files += [p for p in job.output_dir(host).rglob("*") if p.is_file()]
    assert any(p.name.endswith(".log") for p in files)
    assert any(p.name == "xgboost-model" for p in files)
    for path in files:
        data = path.read_bytes()
        for value in secrets_:
            assert value.encode() not in data, f"a credential value appears in {path}"


def test_no_credential_in_logs_outputs_or_model(distributed_job):
    _assert_no_credential_written(distributed_job)


def test_extension_dockerfile_builds_on_our_image(extended_image):
    """Other teams extend the image (examples/Dockerfile.extend): it builds FROM ours, keeps the
    entry point and brings their script, which script mode runs."""
    script = (
        "echo PROGRAM=$SAGEMAKER_PROGRAM MODULE=$SAGEMAKER_TRAINING_MODULE; "
        "test -f /opt/ml/code/train.py && echo CODE-PRESENT"
    )
    run = subprocess.run(
        ["docker", "run", "--rm", extended_image, "sh", "-c", script],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PROGRAM=train.py MODULE=snowflake_xgb.training:main" in run.stdout
    assert "CODE-PRESENT" in run.stdout


def test_script_mode_job_trains_on_two_hosts(script_mode_job):
    """The extended image's script, using snowflake_xgb.api, trains across both containers."""
    job, result = script_mode_job.job, script_mode_job.result
    assert result["ok"], json.dumps(result, indent=2)
    logs = {h["host"]: _text(Path(h["log"])) for h in result["hosts"]}
    assert all("Invoking user script" in log for log in logs.values())
    coordinator = sorted(job.hosts)[0]
    assert METRIC_LINE.search(logs[coordinator]), logs[coordinator][-3000:]
    metadata = json.loads((job.model_dir / "metadata.json").read_text())
    assert "validation_mae" in metadata
    assert (job.model_dir / "xgboost-model").is_file()
    _assert_no_credential_written(script_mode_job)


def test_report_is_written_in_the_image(distributed_job):
    """The coordinator writes the report in the image: its page, its rows."""
    from support.report_dom import ReportDom

    job = distributed_job.job
    coordinator = sorted(job.hosts)[0]
    path = job.output_dir(coordinator) / "data" / "report.html"
    assert path.is_file(), "no output/data/report.html on the coordinator"
    dom = ReportDom(_text(path))
    assert dom.fetched == []
    rows = {(r["data set"], r["host"]): r["rows"] for r in dom.sections["hosts"].rows("host")}
    for shard in _shards(job):
        assert rows[("training", shard["host"])] == f"{shard['rows']:,}"
    assert dom.sections["learning-curves"].charts >= 1
