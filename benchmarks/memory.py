"""Process memory as Linux reports it: current and peak resident set size, and a resettable peak.

``PeakWindow`` measures the peak RSS of a stretch of code *above the RSS it started from*:
it resets the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``) on entry, so that
imports and data already in memory before the window do not count.
"""

from __future__ import annotations

import re
import time

MB = 1024 * 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(match.group(1))


def rss_mb() -> float:
    """Resident set size now, in MiB."""
    return _status_kb("VmRSS") / 1024


def anon_mb() -> float:
    """Anonymous resident memory now (heap, arrays; not memory-mapped files), in MiB."""
    return _status_kb("RssAnon") / 1024


def peak_mb() -> float:
    """Peak resident set size since the process started (or the last reset), in MiB."""
    return _status_kb("VmHWM") / 1024


def reset_peak() -> None:
    """Make the peak equal the current RSS (Linux >= 4.0: clear_refs value 5)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


class PeakWindow:
    """``with PeakWindow() as w: ...`` -> seconds, CPU seconds, baseline, peak and peak above it.

    CPU seconds (``time.process_time``, every thread of the process) are less disturbed than
    wall time when other work shares the machine.
    """

    def __enter__(self) -> PeakWindow:
        reset_peak()
        self.baseline_mb = rss_mb()
        self.baseline_anon_mb = anon_mb()
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = time.process_time() - self.cpu_started  # all threads
        self.peak_mb = peak_mb()
        self.above_mb = self.peak_mb - self.baseline_mb
        self.end_mb = rss_mb()

    def report(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}seconds": round(self.seconds, 3),
            f"{prefix}cpu_seconds": round(self.cpu_seconds, 3),
            f"{prefix}baseline_mb": round(self.baseline_mb, 1),
            f"{prefix}peak_mb": round(self.peak_mb, 1),
            f"{prefix}above_baseline_mb": round(self.above_mb, 1),
        }


class RssSampler:
    """Samples anonymous and file-backed RSS (``RssAnon``/``RssFile``) on a thread; keeps maxima.

    The kernel's peak (``VmHWM``) does not say what the peak was made of: memory-mapped files
    (XGBoost's external-memory page cache) count in RSS but are clean page cache the kernel
    can drop, unlike anonymous memory.
    """

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.max_anon_mb = self.max_file_mb = 0.0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_anon_mb = max(self.max_anon_mb, _status_kb("RssAnon") / 1024)
            self.max_file_mb = max(self.max_file_mb, _status_kb("RssFile") / 1024)
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
