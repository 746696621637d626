"""Serving benchmark: ``serve`` against a server written the way AWS's XGBoost image serves.

Both serve the same model (8 features, 50 trees of depth 6 as in ``make local``'s demo job,
saved as training saves it) with
the same gunicorn worker count and kind, on 127.0.0.1, in the same run. For each payload
(1-row CSV, 1,000-row CSV, 1,000-row JSON records) a fixed number of client processes (one per
worker) send requests back to back over kept-alive connections; requests per second and
p50/p99 latency are measured by the clients. Both servers run at once and take turns in short
slices (``--slices`` per ``--seconds``), so that on a shared machine both meet the same
background load. Then, in the same run, what explanations cost on ours: the 1,000-row requests
plain and with ``explain=contributions``, taking turns the same way (interactions, seconds
per 1,000 rows, are timed in-process with the other stages).

    python benchmarks/serving.py [--seconds 10] [--slices 10] [--workers N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "local_test")]
from chunked_source import FEATURES  # noqa: E402
from standin_servers import free_port  # noqa: E402

PAYLOADS = ("csv-1-row", "csv-1000-rows", "json-1000-rows")
EXPLAINED = (  # (payload, explanation asked; None: a plain prediction)
    ("csv-1000-rows", None),
    ("csv-1000-rows", "contributions"),
    ("json-1000-rows", None),
    ("json-1000-rows", "contributions"),
)
TARGETS = {  # (payload, measure): ours / baseline must be at least (rps) or at most (p99)
    ("csv-1000-rows", "rps"): 3.0,
    ("json-1000-rows", "rps"): 3.0,
    ("csv-1-row", "p99_ms"): 0.5,
}


def make_model(model_dir: Path) -> np.ndarray:
    """Train and save the model (as training saves it); the rows to send."""
    import xgboost as xgb

    sys.path.insert(0, str(REPO))
    from snowflake_xgb.model_files.outputs import save_model

    rng = np.random.default_rng(0)
    data = rng.normal(size=(20_000, len(FEATURES))).astype(np.float32)
    label = data @ rng.normal(size=len(FEATURES)) + np.sin(3 * data[:, 0]) + 2
    booster = xgb.train(  # the settings `make local` trains the demo model with
        {"max_depth": 6, "eta": 0.2, "nthread": os.cpu_count()},
        xgb.DMatrix(data, label=label, feature_names=list(FEATURES)),
        num_boost_round=50,
    )
    save_model(model_dir, booster, {"feature_names": list(FEATURES), "label": "MEDHOUSEVAL"})
    return rng.normal(size=(1000, len(FEATURES))).astype(np.float32)


def payloads(rows: np.ndarray) -> dict[str, tuple[str, bytes]]:
    def csv(block: np.ndarray) -> bytes:
        return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in block).encode()

    records = [dict(zip(FEATURES, map(float, row), strict=True)) for row in rows]
    return {
        "csv-1-row": ("text/csv", csv(rows[:1])),
        "csv-1000-rows": ("text/csv", csv(rows)),
        "json-1000-rows": ("application/json", json.dumps(records).encode()),
    }


def start_server(kind: str, model_dir: Path, workers: int, log: Path) -> tuple:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
    if kind == "ours":
        env.update(
            SAGEMAKER_BASE_DIR=str(model_dir.parent),
            SAGEMAKER_BIND_TO_PORT=str(port),
            SAGEMAKER_MODEL_SERVER_WORKERS=str(workers),
        )
        command = [sys.executable, "-c", "from snowflake_xgb.serving.command import main; main()"]
    else:  # the same gunicorn settings as ours: worker kind, count, keep-alive
        env["MODEL_DIR"] = str(model_dir)
        command = [
            sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "-b", f"127.0.0.1:{port}",
            "-w", str(workers), "-k", "gthread", "--threads", "1", "--keep-alive", "75",
            "--no-control-socket", "aws_style_server:create_app()",
        ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{kind} server did not start; log {log}")
        time.sleep(0.2)
    return process, port


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def client(
    port: int, content_type: str, body: bytes, seconds: float, queue, explain: str | None
) -> None:
    """Requests back to back on one kept-alive connection until ``seconds`` have passed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": content_type, "Accept": content_type}
    if explain:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = f"explain={explain}"
    latencies, errors = [], 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline and len(latencies) < 1_000_000:
        sent = time.perf_counter()
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - sent)
        errors += response.status != 200
    connection.close()
    queue.put((latencies, errors, time.perf_counter() - started))


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """CPU time so far of the server's worker processes (user + system)."""
    total = 0.0
    for worker in psutil.Process(server.pid).children(recursive=True):
        try:
            times = worker.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def measure(
    server: tuple[subprocess.Popen, int],
    content_type: str,
    body: bytes,
    clients: int,
    seconds: float,
    explain: str | None = None,
) -> dict:
    """One slice: ``clients`` processes at once; their latencies, the slice's duration and the
    CPU time the server's workers spent on it."""
    process, port = server
    cpu_before = server_cpu_seconds(process)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=client, args=(port, content_type, body, seconds, queue, explain))
        for _ in range(clients)
    ]
    for client_process in processes:
        client_process.start()
    results = [queue.get(timeout=seconds + 120) for _ in processes]
    for client_process in processes:
        client_process.join()
    return {
        "latencies": [latency for result in results for latency in result[0]],
        "errors": sum(result[1] for result in results),
        "seconds": max(result[2] for result in results),
        "server_cpu_seconds": server_cpu_seconds(process) - cpu_before,
    }


def summary(slices: list[dict]) -> dict:
    latencies = np.array([latency for s in slices for latency in s["latencies"]]) * 1000
    return {
        "requests": int(latencies.size),
        "errors": sum(s["errors"] for s in slices),
        "rps": round(latencies.size / sum(s["seconds"] for s in slices), 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p99_ms": round(float(np.percentile(latencies, 99)), 3),
        "server_cpu_ms_per_request": round(
            1000 * sum(s["server_cpu_seconds"] for s in slices) / max(latencies.size, 1), 3
        ),
    }


def run(work: Path, seconds: float, slices: int, workers: int) -> dict:
    """Both servers up at once; for each payload they take turns in short slices, so that both
    meet the same background load on a shared machine."""
    model_dir = (work / "serving" / "model").resolve()  # the baseline runs in benchmarks/
    rows = make_model(model_dir)
    bodies = payloads(rows)
    servers = {}
    try:
        for kind in ("ours", "baseline"):
            servers[kind] = start_server(kind, model_dir, workers, work / f"serve-{kind}.log")
        results: dict[str, dict[str, dict]] = {"ours": {}, "baseline": {}}
        for name in PAYLOADS:
            content_type, body = bodies[name]
            measured: dict[str, list] = {"ours": [], "baseline": []}
            for server in servers.values():
                measure(server, content_type, body, workers, 0.5)  # warm up
            for turn in range(slices):
                order = ("ours", "baseline") if turn % 2 == 0 else ("baseline", "ours")
                for kind in order:
                    measured[kind].append(
                        measure(servers[kind], content_type, body, workers, seconds / slices)
                    )
            for kind in results:
                results[kind][name] = summary(measured[kind])
                print(f"  {kind:8} {name:15} {results[kind][name]}", flush=True)
        explained = explanation_costs(servers["ours"], bodies, workers, seconds, slices)
    finally:
        for process, _ in servers.values():
            stop_server(process)
    stages = stage_times(model_dir, bodies["csv-1000-rows"][1])
    return {
        "workers": workers, "seconds": seconds, "slices": slices, "results": results,
        "stages": stages, "explained": explained,
    }  # fmt: skip


def explanation_costs(
    server: tuple, bodies: dict, workers: int, seconds: float, slices: int
) -> list[dict]:
    """Ours, for each of :data:`EXPLAINED`, the cases taking turns slice by slice."""
    measured: list[list] = [[] for _ in EXPLAINED]
    for name, explain in EXPLAINED:
        measure(server, *bodies[name], workers, 0.5, explain)  # warm up
    for _ in range(slices):
        for position, (name, explain) in enumerate(EXPLAINED):
            measured[position].append(
                measure(server, *bodies[name], workers, seconds / slices, explain)
            )
    costs = []
    for (name, explain), slices_measured in zip(EXPLAINED, measured, strict=True):
        costs.append({"payload": name, "explain": explain, **summary(slices_measured)})
        print(f"  ours     {name:15} explain={explain} {costs[-1]}", flush=True)
    return costs


def stage_times(model_dir: Path, body: bytes) -> dict[str, dict[str, float]]:
    """Where a 1,000-row CSV request's time goes in each server, in microseconds (in this
    process, one thread, garbage collection on, best of 9 runs of 30; explanations fewer)."""
    import io
    import timeit

    import pandas as pd
    import xgboost as xgb

    from snowflake_xgb.serving.explanations import explain
    from snowflake_xgb.serving.model import load_model, predict
    from snowflake_xgb.serving.payloads import MediaType, parse
    from snowflake_xgb.serving.responses import format_predictions

    def best(step, number: int = 30, repeat: int = 9) -> float:
        runs = timeit.repeat(step, setup="import gc; gc.enable()", number=number, repeat=repeat)
        return round(min(runs) / number * 1e6)

    model = load_model(model_dir, threads=1)
    matrix = parse(body, MediaType.CSV, model).matrix
    predictions = predict(model, matrix, ())
    contributions = explain(model, matrix, "contributions")
    booster = model.booster
    frame = pd.read_csv(io.StringIO(body.decode()), header=None)
    scores = booster.predict(xgb.DMatrix(frame, nthread=1), validate_features=False)
    return {
        "ours": {
            "parse into the float32 matrix": best(lambda: parse(body, MediaType.CSV, model).matrix),
            "inplace_predict": best(lambda: predict(model, matrix, ())),
            "format": best(lambda: format_predictions(predictions, MediaType.CSV, batch=False)),
            # TreeSHAP takes far longer than a prediction: fewer runs.
            "contributions (pred_contribs)": best(
                lambda: explain(model, matrix, "contributions"), number=1, repeat=3
            ),
            "interactions (pred_interactions)": best(
                lambda: explain(model, matrix, "interactions"), number=1, repeat=1
            ),
            "format with contributions": best(
                lambda: format_predictions(predictions, MediaType.CSV, False, contributions)
            ),
        },
        "baseline": {
            "pandas read_csv": best(lambda: pd.read_csv(io.StringIO(body.decode()), header=None)),
            "DMatrix from the frame": best(lambda: xgb.DMatrix(frame, nthread=1)),
            "DMatrix + predict": best(
                lambda: booster.predict(xgb.DMatrix(frame, nthread=1), validate_features=False)
            ),
            "format": best(lambda: "\n".join(str(score) for score in scores)),
        },
    }


def report(results: dict) -> str:
    ours, baseline = results["results"]["ours"], results["results"]["baseline"]
    lines = [
        "## Serving",
        "",
        f"{results['workers']} gunicorn workers each (threaded kind, 1 thread), one client "
        f"process per worker on kept-alive connections, {results['seconds']:g} s per payload and "
        f"server, in {results['slices']} slices taken in turn with the other server.",
        "",
        "| payload | ours req/s | baseline req/s | ratio | ours p50 / p99 ms "
        "| baseline p50 / p99 ms | p99 ratio | server CPU ms per request, ours / baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in PAYLOADS:
        a, b = ours[name], baseline[name]
        cpu_a, cpu_b = a["server_cpu_ms_per_request"], b["server_cpu_ms_per_request"]
        lines.append(
            f"| {name} | {a['rps']:,.0f} | {b['rps']:,.0f} | {a['rps'] / b['rps']:.2f}x "
            f"| {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | {b['p50_ms']:.2f} / {b['p99_ms']:.2f} "
            f"| {a['p99_ms'] / b['p99_ms']:.2f}x | {cpu_a:.2f} / {cpu_b:.2f} "
            f"({cpu_a / cpu_b:.2f}x) |"
        )
    lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
    for (name, measure_name), target in TARGETS.items():
        ratio = ours[name][measure_name] / baseline[name][measure_name]
        if measure_name == "rps":
            lines.append(f"| {name} req/s >= {target}x | {ratio:.2f}x | "
                         f"{'yes' if ratio >= target else '**no**'} |")  # fmt: skip
        else:
            lines.append(f"| {name} p99 <= {target}x | {ratio:.2f}x | "
                         f"{'yes' if ratio <= target else '**no**'} |")  # fmt: skip
    errors = sum(r["errors"] for side in (ours, baseline) for r in side.values()) + sum(
        r["errors"] for r in results.get("explained", ())
    )
    lines += ["", f"Non-200 answers: {errors}."]
    if "explained" in results:
        lines += [
            "",
            "What explanations cost on ours, same run (1,000 rows per request):",
            "",
            "| payload | explain | req/s | p50 / p99 ms | server CPU ms per request "
            "| CPU against the plain prediction |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        plain = {r["payload"]: r for r in results["explained"] if r["explain"] is None}
        for r in results["explained"]:
            cpu, base = r["server_cpu_ms_per_request"], plain[r["payload"]]
            lines.append(
                f"| {r['payload']} | {r['explain'] or '-'} | {r['rps']:,.0f} "
                f"| {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {cpu:.2f} "
                f"| {cpu / base['server_cpu_ms_per_request']:.2f}x |"
            )
    if "stages" in results:
        lines += ["", "Where a 1,000-row CSV request's time goes (us, in-process, one thread):", ""]
        for kind, stages in results["stages"].items():
            steps = ", ".join(f"{name} {micros:,.0f}" for name, micros in stages.items())
            lines.append(f"- {kind}: {steps}")
    return "\n".join(lines) + "\n"


def serving_section(args: argparse.Namespace, work: Path) -> dict:
    print("serving: ours against the AWS-style baseline", flush=True)
    return run(work, args.serving_seconds, 10, args.serving_workers)


def serving_report(args: argparse.Namespace, results: dict, targets: list) -> list[str]:
    return [report(results)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per payload and server")
    parser.add_argument("--slices", type=int, default=10, help="turns each server takes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", type=Path, default=REPO / ".work" / "bench" / "serving.md")
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    work = args.output.parent / "serving-work"
    results = run(work, args.seconds, args.slices, args.workers)
    text = report(results)
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n" + text)


if __name__ == "__main__":
    main()
