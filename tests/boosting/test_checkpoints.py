"""Checkpoints and SIGTERM, end to end: kill a job mid-training, start it again, it resumes.

Jobs run through the real ``train`` command against the stand-ins, with a checkpoint folder
configured as SageMaker does (``checkpointconfig.json``'s ``LocalPath``).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import JobRun, JobRunner

from snowflake_xgb import sagemaker_layout as layout
from snowflake_xgb.boosting import checkpoints

pytestmark = pytest.mark.timeout(300)

# Enough rounds that training is still running when the test acts (about 15 ms a round here).
PARAMS = {"max_depth": 5, "eta": 0.05, "eval_metric": "rmse", "validation_fraction": 0.2}
# Hosts of a multi-host job share this machine's cores here: one thread each, or XGBoost's
# threads oversubscribe the cores and a round takes 100 times longer.
TWO_HOSTS = {"nthread": 1}
METRIC_LINE = re.compile(r"^\[(\d+)\]\ttrain-rmse:", re.MULTILINE)


def _log(run: JobRun, index: int = 0) -> str:
    path = run.hosts[index].base_dir.parent / f"host{index + 1}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_until(condition, timeout: float, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if any(p.poll() is not None for p in processes):
            raise AssertionError("the job ended before the test could act")
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


def _newest(directory: Path) -> int:
    latest = checkpoints.latest_checkpoint(directory)
    return latest[0] if latest else 0


def _model(run: JobRun) -> xgb.Booster:
    return xgb.Booster(model_file=str(run.coordinator.model_dir / "xgboost-model"))


def _metadata(run: JobRun) -> dict:
    return json.loads((run.coordinator.model_dir / "metadata.json").read_text())


def _probe(names: list[str]) -> xgb.DMatrix:
    rng = np.random.default_rng(7)
    ranges = np.array([[0.5, 15], [1, 52], [1, 10], [0.5, 2], [3, 5000], [1, 6], [32, 42],
                       [-124, -114]])  # fmt: skip
    values = ranges[:, 0] + rng.random((200, 8)) * (ranges[:, 1] - ranges[:, 0])
    return xgb.DMatrix(values.astype(np.float32), feature_names=names)


def _assert_no_model(run: JobRun) -> None:
    for host in run.hosts:
        assert list(host.model_dir.iterdir()) == [], host.name


def test_killed_job_resumes_from_newest_checkpoint(
    jobs: JobRunner, housing_params: dict, tmp_path: Path
) -> None:
    params = {**housing_params, **PARAMS, "num_round": 400, "checkpoint_frequency": 50}
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(params, checkpoints=folder)
    _wait_until(lambda: _newest(folder / "host1") >= 100, 120, processes)
    processes[0].send_signal(signal.SIGKILL)  # no chance to clean up: like a lost instance
    killed = jobs.wait(run, processes)
    assert killed.coordinator.returncode == -signal.SIGKILL
    saved = checkpoints.saved_checkpoints(folder / "host1")
    resumed_from = saved[-1][0]
    assert 100 <= resumed_from < 400 and resumed_from % 50 == 0
    assert len(saved) <= checkpoints.KEEP_CHECKPOINTS
    _assert_no_model(killed)

    resumed = jobs.run(params, checkpoints=folder)
    host = resumed.coordinator
    assert host.returncode == 0, host.output
    assert f"Resuming from checkpoint checkpoint-{resumed_from:06d}.ubj" in host.output
    # Only the remaining rounds were trained, numbered from where the checkpoint left off
    # or from 0 (either way, one metric line per remaining round).
    assert len(METRIC_LINE.findall(host.output)) == 400 - resumed_from
    metadata = _metadata(resumed)
    assert metadata["resumed_from_round"] == resumed_from
    assert metadata["rounds_trained"] == 400
    assert _model(resumed).num_boosted_rounds() == 400
    # The same rows on both runs: the deterministic split gives the same training rows.
    assert host.shard_report()["rows"] == metadata["rows"]

    uninterrupted = jobs.run(params)
    assert uninterrupted.coordinator.returncode == 0, uninterrupted.coordinator.output
    assert _metadata(uninterrupted)["resumed_from_round"] is None
    assert _metadata(uninterrupted)["rows"] == metadata["rows"]
    reference = _model(uninterrupted)
    probe = _probe(reference.feature_names)
    np.testing.assert_allclose(
        _model(resumed).predict(probe), reference.predict(probe), rtol=1e-4, atol=1e-4
    )


def test_finished_checkpoint_needs_no_more_rounds(
    jobs: JobRunner, housing_params: dict, tmp_path: Path
) -> None:
    """Killed after the last checkpoint but before the model was written: just write it."""
    params = {**housing_params, **PARAMS, "num_round": 30, "checkpoint_frequency": 10}
    folder = tmp_path / "checkpoints"
    first = jobs.run(params, checkpoints=folder)
    assert first.coordinator.returncode == 0, first.coordinator.output
    assert _newest(folder / "host1") == 30
    again = jobs.run(params, checkpoints=folder)
    assert again.coordinator.returncode == 0, again.coordinator.output
    assert not METRIC_LINE.findall(again.coordinator.output)
    assert _metadata(again)["resumed_from_round"] == 30
    assert _model(again).num_boosted_rounds() == 30


def _sigterm_and_time(processes: list[subprocess.Popen], which: list[int]) -> float:
    started = time.monotonic()
    for index in which:
        processes[index].send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)
    return time.monotonic() - started


def test_sigterm_saves_a_checkpoint_stops_and_resumes(
    jobs: JobRunner, housing_params: dict, tmp_path: Path
) -> None:
    # No checkpoint falls due by the cadence: the one found afterwards is the SIGTERM's.
    params = {**housing_params, **PARAMS, "num_round": 100_000, "checkpoint_frequency": 50_000}
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(params, checkpoints=folder)
    _wait_until(lambda: "[20]\t" in _log(run), 120, processes)
    seconds = _sigterm_and_time(processes, [0])
    print(f"stopped {seconds:.2f}s after SIGTERM")
    stopped = jobs.wait(run, processes)
    host = stopped.coordinator
    assert seconds < 15, seconds
    assert host.returncode == 1, host.output
    rounds = _newest(folder / "host1")
    assert rounds > 20
    failure = host.failure
    assert failure and "Traceback" not in failure and len(failure) < 1024
    assert "SIGTERM" in failure and f"after {rounds} rounds" in failure
    assert f"checkpoint-{rounds:06d}.ubj" in failure and "resumes" in failure
    assert len(METRIC_LINE.findall(host.output)) == rounds
    _assert_no_model(stopped)

    resumed = jobs.run({**params, "num_round": rounds + 10}, checkpoints=folder)
    assert resumed.coordinator.returncode == 0, resumed.coordinator.output
    assert len(METRIC_LINE.findall(resumed.coordinator.output)) == 10
    assert _metadata(resumed)["resumed_from_round"] == rounds
    assert _model(resumed).num_boosted_rounds() == rounds + 10


def test_sigterm_without_checkpoint_folder_stops_promptly(
    jobs: JobRunner, housing_params: dict
) -> None:
    params = {**housing_params, **PARAMS, "num_round": 100_000}
    run, processes = jobs.start(params)
    _wait_until(lambda: "[5]\t" in _log(run), 120, processes)
    seconds = _sigterm_and_time(processes, [0])
    print(f"stopped {seconds:.2f}s after SIGTERM")
    host = jobs.wait(run, processes).coordinator
    assert seconds < 15, seconds
    assert host.returncode == 1
    assert "SIGTERM" in host.failure and "No checkpoint folder" in host.failure
    _assert_no_model(run)


@pytest.mark.parametrize("signalled", [[1], [0, 1]], ids=["worker_only", "both_hosts"])
def test_sigterm_on_two_hosts_stops_both_at_the_same_round(
    jobs: JobRunner, housing_params: dict, tmp_path: Path, signalled: list[int]
) -> None:
    """SageMaker signals every host; a signal to one host alone must stop both too (the
    coordinator learns it in the round's agreement and saves the checkpoint)."""
    params = {**housing_params, **PARAMS, **TWO_HOSTS, "num_round": 100_000,
              "checkpoint_frequency": 50_000}  # fmt: skip
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(params, hosts=2, checkpoints=folder)
    _wait_until(lambda: "[10]\t" in _log(run), 180, processes)
    seconds = _sigterm_and_time(processes, signalled)
    print(f"stopped {seconds:.2f}s after SIGTERM")
    stopped = jobs.wait(run, processes)
    assert seconds < 20, seconds
    coordinator, worker = stopped.hosts
    assert coordinator.returncode == worker.returncode == 1, (coordinator.output, worker.output)
    rounds = _newest(folder / "host1")
    assert rounds > 10
    assert not (folder / "host2").exists() or not any((folder / "host2").iterdir())
    assert f"after {rounds} rounds" in coordinator.failure, coordinator.failure
    assert f"checkpoint-{rounds:06d}.ubj" in coordinator.failure
    if signalled == [1]:
        assert "another host received SIGTERM" in coordinator.failure
    assert f"after {rounds} rounds" in worker.failure and "SIGTERM" in worker.failure
    for host in stopped.hosts:
        assert "Traceback" not in host.failure and len(host.failure) < 1024
    _assert_no_model(stopped)


def test_killed_two_host_job_resumes(jobs: JobRunner, housing_params: dict, tmp_path: Path) -> None:
    params = {**housing_params, **PARAMS, **TWO_HOSTS, "num_round": 1000,
              "checkpoint_frequency": 25}  # fmt: skip
    folder = tmp_path / "checkpoints"
    run, processes = jobs.start(params, hosts=2, checkpoints=folder)
    _wait_until(lambda: _newest(folder / "host1") >= 50, 180, processes)
    for process in processes:
        process.send_signal(signal.SIGKILL)
    jobs.wait(run, processes)
    resumed_from = _newest(folder / "host1")
    assert 50 <= resumed_from < 1000

    resumed = jobs.run(params, hosts=2, checkpoints=folder)
    assert [h.returncode for h in resumed.hosts] == [0, 0], [h.output for h in resumed.hosts]
    assert len(METRIC_LINE.findall(resumed.coordinator.output)) == 1000 - resumed_from
    metadata = _metadata(resumed)
    assert metadata["resumed_from_round"] == resumed_from
    assert metadata["rounds_trained"] == 1000 and _model(resumed).num_boosted_rounds() == 1000


class _SilentServer:
    """Accepts connections and never answers: a sign-in that hangs."""

    def __init__(self) -> None:
        import socket

        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._held: list = []

    def __enter__(self):
        import threading

        def accept() -> None:
            while True:
                try:
                    self._held.append(self._socket.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()


def test_sigterm_before_training_stops_at_once(jobs: JobRunner, housing_params: dict) -> None:
    """Waiting on a Snowflake that does not answer (60 s login timeout): SIGTERM ends it now."""
    with _SilentServer() as silent:
        run, processes = jobs.start(housing_params, environ={"SNOWFLAKE_PORT": str(silent.port)})
        _wait_until(lambda: "Signing in to Snowflake" in _log(run), 60, processes)
        time.sleep(0.5)  # inside the login request
        seconds = _sigterm_and_time(processes, [0])
        print(f"stopped {seconds:.2f}s after SIGTERM")
    host = jobs.wait(run, processes).coordinator
    assert seconds < 10, seconds
    assert host.returncode == 1, host.output
    assert "before training started" in host.failure and "Traceback" not in host.output
    _assert_no_model(run)


def test_checkpoint_names_saved_are_the_names_found(tmp_path: Path) -> None:
    """One pattern for saving and finding (the reference container used two)."""
    data = xgb.DMatrix(np.arange(20, dtype=np.float32).reshape(10, 2), label=np.arange(10))
    booster = None
    for rounds in (5, 10, 15, 20, 25):
        booster = xgb.train({}, data, 5, xgb_model=booster)
        path = checkpoints.save_checkpoint(tmp_path, booster)
        assert checkpoints.latest_checkpoint(tmp_path) == (rounds, path)
    assert [r for r, _ in checkpoints.saved_checkpoints(tmp_path)] == [15, 20, 25]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-000015.ubj", "checkpoint-000020.ubj", "checkpoint-000025.ubj",
    ]  # fmt: skip
    (tmp_path / ".checkpoint-000030.ubj.tmp-1").write_bytes(b"half")  # a write cut short
    assert checkpoints.latest_checkpoint(tmp_path)[0] == 25


def test_a_checkpoint_of_another_job_is_refused(tmp_path: Path) -> None:
    names = ["MEDINC", "HOUSEAGE"]
    data = xgb.DMatrix(np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10),
                       feature_names=names)  # fmt: skip
    booster = xgb.train({}, data, 5)
    checkpoints.check_resumable(booster, names, 5, tmp_path)  # this job's own: fine
    with pytest.raises(checkpoints.UserError, match=r"other features .* another job"):
        checkpoints.check_resumable(booster, ["MEDINC", "LATITUDE"], 10, tmp_path)
    with pytest.raises(checkpoints.UserError, match=r"5 rounds, more than .*num_round=3"):
        checkpoints.check_resumable(booster, names, 3, tmp_path)


WATCHDOG_SCRIPT = """
import os, signal, sys, time
from snowflake_xgb.boosting import interruption
interruption.STOP_DEADLINE_SECONDS = 1.0
interruption.install()
interruption.StopOnSignal(None).before_training(None)  # in training: SIGTERM only sets a flag
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(60)  # stuck where no callback runs (a collective step waiting on a lost host)
sys.exit(3)
"""


def test_watchdog_ends_a_job_stuck_after_sigterm(tmp_path: Path) -> None:
    import os
    import sys

    (tmp_path / layout.OUTPUT_DIR).mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WATCHDOG_SCRIPT],
        env={**os.environ, layout.BASE_DIR_ENV: str(tmp_path)},
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 1, done.stderr.decode()
    assert time.monotonic() - started < 15
    failure = (tmp_path / layout.FAILURE_FILE).read_text()
    assert "did not stop within 1s" in failure and "resumes from the newest checkpoint" in failure
