"""Scoring benchmark: rows scored per second per host, end to end, beside ``serve``.

A keyed table of ``rows`` rows in the Snowflake stand-in is scored by the scoring job
(``job=score``: read by id, predict, Parquet, PUT, COPY INTO, publish) on each host count, each
host a ``train`` process; wall time from start to the last host's exit. The same model (50
trees of depth 6, as the serving benchmark's) is then served by ``serve`` with one worker, and
one client sends it the same rows in 1,000-row requests: as CSV, and as Snowflake's external
function form (``{"data": [[row, features...], ...]}``, what API Gateway relays): rows per
second and per request. The rows per second of one host (or one serving worker) are what one
machine's cores give; docs/benchmarks.md sets them beside Snowflake's ``run_batch`` figure.

    python benchmarks/scoring.py [--rows 300000] [--hosts 1,2] [--serve-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "local_test"), str(HERE)]
from offline_env import offline_environment  # noqa: E402
from seed_standins import HOUSING_COLUMNS, create_housing_table  # noqa: E402
from serving import measure, start_server, stop_server  # noqa: E402
from standin_servers import standin_servers  # noqa: E402

from snowflake_xgb import sagemaker_layout as layout  # noqa: E402

SOURCE, TABLE, TARGET = "BENCH.PUBLIC.HOUSING", "BENCH.PUBLIC.TO_SCORE", "BENCH.PUBLIC.SCORES"
FEATURES = HOUSING_COLUMNS[:-1]
SECRET_ID = "snowflake-xgb/bench-scoring"
REGION = "us-east-1"
REQUEST_ROWS = 1000


def connect(port: int):
    import snowflake.connector

    return snowflake.connector.connect(
        user="bench", password="x", account="local", host="127.0.0.1", port=port,
        protocol="http", login_timeout=30, network_timeout=600,
    )  # fmt: skip


def seed(port: int, secrets_url: str, rows: int) -> np.ndarray:
    """The keyed table to score; the secret; a sample of the rows (float32) to train on."""
    import boto3

    with connect(port) as connection:
        create_housing_table(connection, SOURCE, rows=rows, stand_in=True)
        cursor = connection.cursor()
        cursor.execute(
            f"CREATE OR REPLACE TABLE {TABLE} AS SELECT ROW_NUMBER() OVER () AS ROW_KEY, "
            f"{', '.join(HOUSING_COLUMNS)} FROM {SOURCE}"
        )
        sample = cursor.execute(f"SELECT * FROM {TABLE} LIMIT 20000").fetch_arrow_all()
    client = boto3.client("secretsmanager", endpoint_url=secrets_url, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_secret(Name=SECRET_ID, SecretString=json.dumps({"user": "b", "password": "x"}))
    return np.column_stack(
        [sample.column(c).to_numpy(zero_copy_only=False) for c in HOUSING_COLUMNS]
    ).astype(np.float32)


def check_target(port: int, booster) -> dict:
    """What a user would check after a job: every key once, predictions equal to
    ``Booster.predict`` on the same rows (joined by key)."""
    import xgboost as xgb

    with connect(port) as connection:
        cursor = connection.cursor()
        written = cursor.execute(f"SELECT * FROM {TARGET}").fetch_arrow_all().sort_by("ROW_KEY")
        source = cursor.execute(f"SELECT * FROM {TABLE}").fetch_arrow_all().sort_by("ROW_KEY")
    keys = written.column("ROW_KEY").to_numpy(zero_copy_only=False).astype(np.int64)
    features = np.column_stack(
        [source.column(c).to_numpy(zero_copy_only=False) for c in FEATURES]
    ).astype(np.float32)
    expected = booster.predict(xgb.DMatrix(features, feature_names=list(FEATURES)))
    predicted = written.column("PREDICTION").to_numpy(zero_copy_only=False).astype(np.float32)
    same_keys = np.array_equal(
        keys, source.column("ROW_KEY").to_numpy(zero_copy_only=False).astype(np.int64)
    )
    return {
        "every_key_once": bool(same_keys and len(np.unique(keys)) == len(keys)),
        "predictions_equal_booster_predict": bool(
            same_keys and np.array_equal(predicted, expected)
        ),
    }


def make_model(sample: np.ndarray, work: Path) -> tuple[Path, object]:
    """The model folder (as training writes it), its channel beside it, and the booster."""
    import xgboost as xgb

    from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
    from snowflake_xgb.model_files.outputs import save_model

    booster = xgb.train(
        {"max_depth": 6, "eta": 0.2, "nthread": os.cpu_count()},
        xgb.DMatrix(sample[:, :-1], label=sample[:, -1], feature_names=list(FEATURES)),
        num_boost_round=50,
    )
    encoding = Encoding(tuple(FeatureEncoding(n, Kind.NUMBER) for n in FEATURES),
                        LabelEncoding("MEDHOUSEVAL"))  # fmt: skip
    model_dir = work / "serve" / "model"
    save_model(model_dir, booster, {"feature_names": list(FEATURES), "label": "MEDHOUSEVAL",
                                    "encoding": encoding.to_metadata()})  # fmt: skip
    channel = work / "channel"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return model_dir, booster


def score(port: int, secrets_url: str, work: Path, hosts: int, number: int) -> dict:
    """One scoring job on ``hosts`` host processes: wall seconds and what each host did."""
    names = [f"127.0.{40 + number}.{i + 1}" for i in range(hosts)]
    hyperparameters = {"job": "score", "table": TABLE, "key": "ROW_KEY", "target_table": TARGET}
    env = {**os.environ, **offline_environment(secrets_url),
           "SAGEMAKER_TRAINING_MODULE": "snowflake_xgb.training:main",
           "SNOWFLAKE_SECRET_ID": SECRET_ID, "SNOWFLAKE_ACCOUNT": "local",
           "SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": str(port),
           "SNOWFLAKE_PROTOCOL": "http", "AWS_DEFAULT_REGION": REGION,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    if hosts > 1:
        env["OMP_NUM_THREADS"] = "1"
    processes = []
    started = time.perf_counter()
    for index, host in enumerate(names):
        base = work / f"score-{hosts}-{number}" / f"host{index + 1}"
        for folder in layout.PREPARED_DIRS:
            (base / folder).mkdir(parents=True, exist_ok=True)
        (base / layout.HYPERPARAMETERS_FILE).write_text(json.dumps(hyperparameters))
        resources = {"current_host": host, "hosts": names, "network_interface_name": "lo"}
        (base / layout.RESOURCE_CONFIG_FILE).write_text(json.dumps(resources))
        (base / layout.INPUT_DATA_CONFIG_FILE).write_text(json.dumps({"model": {}}))
        shutil.copytree(work / "channel", base / layout.INPUT_DATA_DIR / "model")
        log = (base.parent / f"host{index + 1}.log").open("wb")
        processes.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "train")], stdout=log, stderr=subprocess.STDOUT,
            env={**env, layout.BASE_DIR_ENV: str(base)}, cwd=base,
        ))  # fmt: skip
    codes = [process.wait(timeout=1800) for process in processes]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"scoring job on {hosts} hosts failed: logs in {base.parent}")
    report = base.parent / "host1" / layout.OUTPUT_DATA_DIR / "scoring.json"
    return {"hosts": hosts, "wall_seconds": round(wall, 2), **json.loads(report.read_text())}


def serve(model_dir: Path, sample: np.ndarray, seconds: float, work: Path) -> dict:
    """``serve`` with one worker, one client: rows per second as CSV and as external function."""
    rows = sample[:REQUEST_ROWS, :-1]
    csv = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()
    external = json.dumps({"data": [[i, *map(float, row)] for i, row in enumerate(rows)]})
    server = start_server("ours", model_dir, 1, work / "serve.log")
    try:
        results = {}
        for name, (kind, body) in {
            "csv": ("text/csv", csv),
            "external_function": ("application/json", external.encode()),
        }.items():
            sliced = measure(server, kind, body, 1, seconds)
            requests = len(sliced["latencies"])
            results[name] = {
                "requests": requests,
                "rows_per_second": round(requests * REQUEST_ROWS / sliced["seconds"]),
                "ms_per_request": round(1000 * float(np.median(sliced["latencies"])), 2),
                "errors": sliced["errors"],
            }
        return results
    finally:
        stop_server(server[0])


def run(work: Path, rows: int, host_counts: list[int], serve_seconds: float) -> dict:
    os.environ.update(offline_environment())
    work.mkdir(parents=True, exist_ok=True)
    with standin_servers(work) as endpoints:
        port, secrets_url = endpoints.snowflake_port, endpoints.secrets_url
        print(f"scoring: seeding {rows:,} rows", flush=True)
        sample = seed(port, secrets_url, rows)
        model_dir, booster = make_model(sample, work)
        jobs = []
        for number, hosts in enumerate(host_counts):
            print(f"scoring: {rows:,} rows on {hosts} host(s)", flush=True)
            job = score(port, secrets_url, work, hosts, number)
            jobs.append({**job, **check_target(port, booster)})
    print("scoring: serve on the same model", flush=True)
    return {"rows": rows, "jobs": jobs, "serve": serve(model_dir, sample, serve_seconds, work),
            "cpus": os.cpu_count()}  # fmt: skip


def report(results: dict) -> str:
    rows = results["rows"]
    lines = [
        "## Scoring (`job=score`)",
        "",
        f"{rows:,} rows x {len(FEATURES)} features, a 50-tree depth-6 model; the stand-in "
        f"on the same machine ({results['cpus']} cores shared by every process).",
        "",
        "| case | hosts | wall s | rows/s | rows/s per host | every key once, = predict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for job in results["jobs"]:
        per_second = rows / job["wall_seconds"]
        checked = job["every_key_once"] and job["predictions_equal_booster_predict"]
        lines.append(
            f"| scoring job, end to end | {job['hosts']} | {job['wall_seconds']} | "
            f"{per_second:,.0f} | {per_second / job['hosts']:,.0f} | "
            f"{'yes' if checked else '**no**'} |"
        )
    for name, served in results["serve"].items():
        per_second = f"{served['rows_per_second']:,}"
        lines.append(
            f"| serve, 1 worker, {REQUEST_ROWS:,}-row {name} requests "
            f"({served['ms_per_request']} ms each) | 1 | | {per_second} | {per_second} | |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--hosts", default="1,2")
    parser.add_argument("--serve-seconds", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=REPO / ".work" / "bench" / "scoring")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    hosts = [int(h) for h in args.hosts.split(",")]
    results = run(args.work, args.rows, hosts, args.serve_seconds)
    print(json.dumps(results))
    print(report(results))


if __name__ == "__main__":
    main()
