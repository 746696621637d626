"""Where a job's fixed cost goes: one 1-host ``train`` process against the stand-ins.

    python benchmarks/fixed_cost.py [--repeat 3] [--json PATH]
    PYTHONPATH=/tmp/before python benchmarks/fixed_cost.py   # another tree's package (git archive)

The job reads a small table (``ROWS`` rows, one round), so what it spends is what every job
spends whatever its data: the interpreter and imports, sagemaker-training's own start, the
credentials, sign-in and planning, the model, the report and the exit. The Snowflake stand-in
is reached through a relay in this process that records when a request waits on Snowflake's
answer (union of the intervals, as downloads overlap): that is Snowflake's own statement time,
which a job cannot cut; ``fixed_seconds`` is the rest of the process's wall time.

Phases come from the job's own log (each line's timestamp, to the millisecond) and the process's
start and end; imports per top-level package from a second run with ``PYTHONPROFILEIMPORTTIME``
(its own time for every module, summed per package; that run's other figures are not used).

As a library: :func:`measure_fixed_cost` returns a :class:`FixedCost`.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO / "local_test"), str(REPO / "tests")]

from seed_standins import create_housing_table  # noqa: E402
from standin_servers import standin_servers  # noqa: E402
from support.jobs import layout_host  # noqa: E402
from support.standins import SECRET_ID, TEST_PASSWORD, TEST_USER, StandIns  # noqa: E402

import snowflake_xgb  # noqa: E402
from snowflake_xgb import sagemaker_layout as layout  # noqa: E402

TABLE = "FIXED.PUBLIC.HOUSING"
ROWS = 1_000
HYPERPARAMETERS = {"table": TABLE, "label": "MEDHOUSEVAL", "num_round": "1", "max_depth": "3"}
JOB_TIMEOUT_SECONDS = 300

# The job's log lines that end each phase, in the job's order (a line missing from a run, the
# report's when it is off, joins its phase to the next). Before the job ended itself on
# success, sagemaker-training logged the last one.
PHASE_ENDS = (
    ("interpreter, imports, sagemaker-training's start", "Imported framework"),
    ("credentials (Secrets Manager)", "Planning the queries: started"),
    ("planning: sign-in, statements", "Planning the queries: done"),
    ("loading: sign-in, read, matrix", "Loading data: done"),
    ("training (1 round)", "Training: done"),
    ("model files", "Model written"),
    ("report", "Report written"),
    ("success file", "The job succeeded"),
)
EXIT_PHASE = "exit (interpreter shutdown)"
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float


@dataclass(frozen=True)
class FixedCost:
    """One 1-host ``train`` job on ``ROWS`` rows: where its wall time went."""

    wall_seconds: float  # the ``train`` process, start to exit
    cpu_seconds: float  # the process's user + system time
    snowflake_seconds: float  # waiting on the Snowflake stand-in's answers (the relay's view)
    snowflake_requests: int
    phases: tuple[Phase, ...]  # from the job's log, in order; they add up to wall_seconds
    imports: tuple[Phase, ...]  # own import time per top-level package (the profiled run)
    load_average: float  # the machine's over the minute before the run: others' work slows it

    @property
    def fixed_seconds(self) -> float:
        """The job's wall time outside Snowflake's own statement time."""
        return round(self.wall_seconds - self.snowflake_seconds, 2)


class SnowflakeRelay:
    """Forwards HTTP requests to the Snowflake stand-in and records how long each waited on it.

    The front builds result chunk URLs from the request's ``Host``, so chunk downloads come
    through the relay as well."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                started = time.perf_counter()
                upstream = http.client.HTTPConnection("127.0.0.1", relay.upstream_port)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    answer = response.read()
                finally:
                    upstream.close()
                with relay._lock:
                    relay.intervals.append((started, time.perf_counter()))
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler

    def reset(self) -> None:
        with self._lock:
            self.intervals.clear()

    def waited(self) -> tuple[float, int]:
        """Seconds during which at least one request waited on the stand-in; requests."""
        with self._lock:
            intervals = sorted(self.intervals)
        total, end = 0.0, float("-inf")
        for start, stop in intervals:
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total, len(intervals)

    @contextmanager
    def running(self) -> Iterator[SnowflakeRelay]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def _run_train(base: Path, environ: dict[str, str], log: Path) -> tuple[float, float, float]:
    """One ``train`` process: its start (epoch seconds), wall and CPU seconds."""
    train = Path(sys.executable).parent / "train"
    with log.open("wb") as out:
        started_at, started = time.time(), time.perf_counter()
        process = subprocess.Popen(
            [str(train)], env=environ, stdout=out, stderr=subprocess.STDOUT, cwd=base
        )
        deadline = started + JOB_TIMEOUT_SECONDS
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
            time.sleep(0.005)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"the train job failed ({code}); its log {log}:\n{tail}")
    return started_at, wall, usage.ru_utime + usage.ru_stime


def phases_from_log(text: str, started_at: float, wall: float) -> tuple[Phase, ...]:
    """The phases between the job's start, the log lines of ``PHASE_ENDS`` and its exit."""
    marks: dict[str, float] = {}
    for line in text.splitlines():
        match = _LOG_TIME.match(line)
        if match is None:
            continue
        line = line.replace("Reporting training SUCCESS", "The job succeeded")
        for _, needle in PHASE_ENDS:
            if needle in line and needle not in marks:
                stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                marks[needle] = stamp - started_at
    phases, previous = [], 0.0
    for name, needle in PHASE_ENDS:
        if needle in marks:
            phases.append(Phase(name, round(marks[needle] - previous, 3)))
            previous = marks[needle]
    phases.append(Phase(EXIT_PHASE, round(wall - previous, 3)))
    return tuple(phases)


def imports_from_log(text: str) -> tuple[Phase, ...]:
    """``PYTHONPROFILEIMPORTTIME`` lines: each module's own time, summed per top-level package."""
    per_package: dict[str, int] = defaultdict(int)
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            per_package[match[2].split(".")[0]] += int(match[1])
    ordered = sorted(per_package.items(), key=lambda item: -item[1])
    return tuple(Phase(name, round(us / 1e6, 3)) for name, us in ordered)


def _run_job(
    work: Path, name: str, environ: dict[str, str], relay: SnowflakeRelay
) -> tuple[FixedCost, str]:
    """One 1-host job in its own folder: its figures (no imports yet) and its log."""
    base = work / name
    layout_host(base, "algo-1", ["algo-1"], HYPERPARAMETERS, None)
    log = work / f"{name}.log"
    relay.reset()
    load_average = round(os.getloadavg()[0], 1)
    started_at, wall, cpu = _run_train(base, {**environ, layout.BASE_DIR_ENV: str(base)}, log)
    text = log.read_text(errors="replace")
    snowflake, requests = relay.waited()
    cost = FixedCost(
        wall_seconds=round(wall, 2),
        cpu_seconds=round(cpu, 2),
        snowflake_seconds=round(snowflake, 3),
        snowflake_requests=requests,
        phases=phases_from_log(text, started_at, wall),
        imports=(),
        load_average=load_average,
    )
    return cost, text


def compile_package() -> None:
    """Byte-compile the package the job imports, as installing it in the image does: with
    ``PYTHONDONTWRITEBYTECODE`` set (the image sets it; so may a shell), an editable checkout is
    otherwise compiled again in every job."""
    package = Path(snowflake_xgb.__file__).parent
    compileall.compile_dir(package, quiet=1)


def measure_fixed_cost(repeat: int = 3, work: Path | None = None) -> FixedCost:
    """Run the 1-host job ``repeat`` times and once more with import profiling, against fresh
    stand-ins; ``work``: where the logs and job folders go (default: a temporary folder)."""
    compile_package()
    with tempfile.TemporaryDirectory(prefix="fixed_cost_") as scratch:
        work = work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        with standin_servers(work) as endpoints:
            relay = SnowflakeRelay(endpoints.snowflake_port)
            with relay.running():
                standins = StandIns(relay.port, endpoints.secrets_url)
                with standins.connect() as connection:
                    create_housing_table(connection, TABLE, rows=ROWS, stand_in=True)
                standins.put_secret(SECRET_ID, {"user": TEST_USER, "password": TEST_PASSWORD})
                environ = {
                    **os.environ,
                    **standins.job_environ(),
                    "SAGEMAKER_TRAINING_MODULE": "snowflake_xgb.training:main",
                }
                runs = [_run_job(work, f"job{n}", environ, relay)[0] for n in range(repeat)]
                profiling = {**environ, "PYTHONPROFILEIMPORTTIME": "1"}
                _, profiled_log = _run_job(work, "profiled", profiling, relay)
    fastest = min(runs, key=lambda run: run.wall_seconds)  # the others met more interference
    return dataclasses.replace(fastest, imports=imports_from_log(profiled_log))


def report(cost: FixedCost, top: int = 15) -> str:
    """A Markdown table of the phases and of the imports per package."""
    lines = [
        f"1-host `train` job, {ROWS:,} rows, 1 round: {cost.wall_seconds:.2f} s wall, "
        f"{cost.cpu_seconds:.2f} s CPU; waiting on Snowflake {cost.snowflake_seconds:.2f} s "
        f"({cost.snowflake_requests} requests); **fixed cost {cost.fixed_seconds:.2f} s** "
        f"(load average {cost.load_average} on {os.cpu_count()} cores)",
        "",
        "| phase | seconds |",
        "|---|---:|",
        *(f"| {phase.name} | {phase.seconds:.3f} |" for phase in cost.phases),
        "",
        "| imports (own time per package, profiled run) | seconds |",
        "|---|---:|",
        *(f"| {package.name} | {package.seconds:.3f} |" for package in cost.imports[:top]),
        f"| all {len(cost.imports)} packages | {sum(p.seconds for p in cost.imports):.3f} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="plain runs (the fastest kept)")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    cost = measure_fixed_cost(args.repeat)
    print(report(cost))
    if args.json:
        args.json.write_text(json.dumps({**asdict(cost), "fixed_seconds": cost.fixed_seconds}))


if __name__ == "__main__":
    main()
