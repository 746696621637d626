"""How a benchmark measures and reports: one process per case, and Markdown tables.

``Case`` starts a process and reaps it with ``os.wait4``, which gives that process's peak RSS
(``ru_maxrss``) and CPU seconds; wall time is measured around it, and the case's own
``BENCH_RESULT {json}`` line (what it measured inside) is merged in. Nothing a case allocates
can leak into another's figures. ``row``/``table``/``ratio`` write the report's Markdown.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path


class Case:
    """One measured process: wall time, peak RSS, CPU seconds (``wait4``) and its result line."""

    def __init__(self, name: str, command: list[str], log_dir: Path, **popen) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdout=self._out, stderr=subprocess.STDOUT, **popen
        )
        self.result: dict | None = None

    def poll(self) -> bool:
        """True once the process has ended (then ``self.result`` is set)."""
        if self.result is not None:
            return True
        pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        if pid == 0:
            return False
        wall = time.perf_counter() - self.started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._out.close()
        inner = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("BENCH_RESULT "):
                inner = json.loads(line.split(" ", 1)[1])
        self.result = {
            "name": self.name,
            "returncode": self.process.returncode,
            "wall_seconds": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            **inner,
        }
        if self.process.returncode != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            print(f"!! {self.name} failed ({self.process.returncode}); log {self.log}:\n{tail}")
        return True


def run_cases(cases: list[Case], timeout: float) -> list[dict]:
    """Wait for every case (killing what is still running after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not all(case.poll() for case in cases):
        if time.monotonic() > deadline:
            for case in cases:
                if case.result is None:
                    case.process.kill()
            deadline = float("inf")
        time.sleep(0.02)
    return [case.result for case in cases]


def run_case(name: str, command: list[str], log_dir: Path, timeout: float = 1800, **popen) -> dict:
    """One case to its end; prints its wall time and peak RSS."""
    result = run_cases([Case(name, command, log_dir, **popen)], timeout)[0]
    print(
        f"  {name}: {result['wall_seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB"
        f" (rc {result['returncode']})",
        flush=True,
    )
    return result


def fastest(runs: dict[str, list[dict]], key: str = "wall_seconds") -> dict[str, dict]:
    """The fastest repeat of each case (the machine is shared; slower runs are interference)."""
    return {name: min(repeats, key=lambda run: run[key]) for name, repeats in runs.items()}


def machine() -> str:
    """Cores, memory, kernel and the versions that matter, in one line."""
    import numpy
    import pyarrow
    import snowflake.connector
    import xgboost

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPU ({cpu}), {memory_kb / 2**20:.0f} GiB memory, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, XGBoost {xgboost.__version__}, "
        f"pyarrow {pyarrow.__version__}, NumPy {numpy.__version__}, "
        f"snowflake-connector-python {snowflake.connector.__version__}"
    )


def at_most(target: str, measured: float, bound: float) -> tuple[str, str, bool]:
    """A target row: ``measured`` (a ratio) against its upper ``bound``."""
    return f"{target} <= {bound:g}x", f"{measured:.2f}x", measured <= bound


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table(header: tuple[str, ...], rows: list[str]) -> list[str]:
    return [row(*header), row(*(["---"] * len(header))), *rows, ""]
