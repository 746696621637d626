"""Results served as Snowflake serves them (many chunks from "cloud storage"), through ``train``.

The Snowflake stand-in's front cuts each result into a small inline first chunk and dozens of
gzip-compressed chunks of growing size, served over HTTP with latency and injected faults, and
counts who downloaded what. Jobs run through sagemaker-training's ``train`` with the real
connector (whichever line this environment has: CI runs these tests on 4.x and 5.x). The
downloader's own rules (order, in-flight bound, retries, bound on time) are also checked on
in-memory batches at the end.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb
from snowflake_front import FrontControl
from support.jobs import JobRun, JobRunner
from support.standins import HOUSING_TABLE, StandIns

from snowflake_xgb.config.job_config import DownloadSettings
from snowflake_xgb.errors import UserError
from snowflake_xgb.loading.downloads import ResultBatches, download_batches
from snowflake_xgb.loading.sharding import BatchSlice

# 150 rows inline, then chunks of 200 rows growing by 2% each: 57 batches of 20,640 rows, whose
# edges fall between the hosts' row ranges for 2, 3 and 4 hosts.
CHUNKS = {"first_chunk_rows": 150, "chunk_rows": 200, "chunk_growth": 1.02}
PARAMS = {
    "table": HOUSING_TABLE, "label": "MEDHOUSEVAL", "num_round": 8, "max_depth": 4, "eta": 0.3,
    "download_threads": 4,
}  # fmt: skip


@pytest.fixture
def front(standins: StandIns) -> Iterator[FrontControl]:
    """The stand-in's front, serving results in chunks for this test; reset afterwards."""
    control = standins.front
    control.reset()
    control.settings(**CHUNKS)
    yield control
    control.reset()


def _metadata(run: JobRun) -> dict:
    return json.loads((run.coordinator.model_dir / "metadata.json").read_text())


def _succeeded(run: JobRun) -> None:
    for host in run.hosts:
        assert host.returncode == 0, host.output[-3000:]
        assert host.failure is None


def _assert_same_model_as_in_memory(run: JobRun, standins: StandIns) -> None:
    """The job's model is XGBoost's in-memory model on the same rows.

    One host: the same predictions. Several: XGBoost merges the hosts' quantile sketches, so
    the bins (and trees) differ a little; the fit is as good.
    """
    metadata = _metadata(run)
    table = standins.result_by_id(metadata["query_ids"]["training"])
    features = np.column_stack(
        [table.column(name).to_numpy().astype(np.float32) for name in metadata["feature_names"]]
    )
    label = table.column(metadata["label"]).to_numpy().astype(np.float32)
    params = {k: PARAMS[k] for k in ("max_depth", "eta")}
    expected = xgb.train(params, xgb.QuantileDMatrix(features, label), PARAMS["num_round"])
    model = xgb.Booster(model_file=str(run.coordinator.model_dir / "xgboost-model"))
    matrix = xgb.DMatrix(features, feature_names=metadata["feature_names"])
    ours, theirs = model.predict(matrix), expected.predict(xgb.DMatrix(features))
    if len(run.hosts) == 1:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    else:
        ours_rmse, theirs_rmse = (float(np.sqrt(np.mean((p - label) ** 2))) for p in (ours, theirs))
        assert abs(ours_rmse - theirs_rmse) / theirs_rmse < 0.02, (ours_rmse, theirs_rmse)


def _downloads(counters: dict, query_id: str) -> list[dict]:
    return [d for d in counters["downloads"] if d["query_id"] == query_id]


@pytest.mark.distributed
@pytest.mark.parametrize("hosts", [1, 2, 3, 4])
def test_each_chunk_is_downloaded_once_by_the_hosts_whose_rows_it_holds(
    jobs: JobRunner, standins: StandIns, front: FrontControl, hosts: int
) -> None:
    run = jobs.run(PARAMS, hosts=hosts)
    _succeeded(run)
    query_id = _metadata(run)["query_ids"]["training"]
    counters = front.counters()
    batch_rows = counters["results"][query_id]["rows"]
    assert len(batch_rows) >= 50 and len(set(batch_rows[1:])) > 10, batch_rows

    # Shard files cover every row exactly once, in rank order.
    reports = [host.shard_report() for host in run.hosts]
    assert [r["row_start"] for r in reports] == [0] + [r["row_end"] for r in reports[:-1]]
    assert reports[-1]["row_end"] == sum(batch_rows) == 20640
    edges = set(np.cumsum(batch_rows).tolist())
    if hosts > 1:  # the host ranges do not line up with chunk edges
        assert not edges & {r["row_end"] for r in reports[:-1]}

    # Each chunk was downloaded (successfully) by exactly the hosts whose rows it holds.
    starts = np.concatenate([[0], np.cumsum(batch_rows)[:-1]])
    expected = Counter()
    for report in reports:
        wanted = [
            index for index in range(1, len(batch_rows))
            if starts[index] < report["row_end"]
            and starts[index] + batch_rows[index] > report["row_start"]
        ]  # fmt: skip
        if wanted:
            expected[frozenset(wanted)] += 1
    served = [d for d in _downloads(counters, query_id) if d["status"] == 200]
    by_reader: dict[int, list[int]] = {}
    for download in served:
        by_reader.setdefault(download["reader"], []).append(download["batch"])
    assert all(len(b) == len(set(b)) for b in by_reader.values()), "a host downloaded twice"
    assert Counter(frozenset(b) for b in by_reader.values()) == expected
    assert counters["max_in_flight"] > 1  # downloads overlapped
    # Each host read the stored result by id once; no RESULT_SCAN (a new query) ran.
    assert counters["result_reads"] == hosts and counters["reopens"] == 0

    _assert_same_model_as_in_memory(run, standins)


@pytest.mark.distributed
def test_a_chunk_that_fails_twice_then_succeeds(
    jobs: JobRunner, standins: StandIns, front: FrontControl
) -> None:
    front.settings(fail_times={"20": 2})
    run = jobs.run(PARAMS, hosts=2)
    _succeeded(run)
    query_id = _metadata(run)["query_ids"]["training"]
    statuses = [d["status"] for d in _downloads(front.counters(), query_id) if d["batch"] == 20]
    assert statuses == [503, 503, 200], statuses
    _assert_same_model_as_in_memory(run, standins)


@pytest.mark.distributed
def test_an_expired_chunk_url_is_renewed(
    jobs: JobRunner, standins: StandIns, front: FrontControl
) -> None:
    # 57 chunks; each answer's URLs expire once 20 chunks were downloaded through them, so
    # the download needs at least two renewals, wherever the machine's load puts them.
    front.settings(url_downloads=20)
    run = jobs.run(PARAMS, hosts=1, timeout=300)
    _succeeded(run)
    query_id = _metadata(run)["query_ids"]["training"]
    counters = front.counters()
    downloads = _downloads(counters, query_id)
    assert any(d["status"] == 403 for d in downloads)
    assert counters["result_reads"] >= 3  # the first read by id, then at least two renewals
    assert counters["reopens"] == 0
    served = sorted(d["batch"] for d in downloads if d["status"] == 200)
    assert served == list(range(1, len(counters["results"][query_id]["rows"])))
    assert "fresh download URLs" in run.coordinator.output
    front.settings(url_downloads=0)  # for reading the rows here
    _assert_same_model_as_in_memory(run, standins)


@pytest.mark.distributed
def test_a_chunk_that_never_answers_ends_the_job_within_the_bound(
    jobs: JobRunner, front: FrontControl
) -> None:
    front.settings(hang_batches=[50])  # in the second host's rows
    params = {**PARAMS, "download_timeout_seconds": 8}
    started = time.monotonic()
    run = jobs.run(params, hosts=2, timeout=180)
    elapsed = time.monotonic() - started
    assert elapsed < 120, elapsed
    for host in run.hosts:
        assert host.returncode not in (0, None), host.output[-3000:]
        assert host.failure, host.output[-3000:]
        assert "Traceback" not in host.failure
    reason = run.hosts[1].failure
    assert "Chunk 50" in reason and "within 8s" in reason, reason
    results = front.counters()["results"]
    query_id = [qid for qid, result in results.items() if len(result["rows"]) >= 50][-1]
    assert query_id in reason
    assert not (run.coordinator.model_dir / "xgboost-model").exists()


# --- the downloader alone, on in-memory batches ----------------------------------------------


class SlowBatch:
    """A batch whose download takes ``seconds`` (forever: None) and may fail first."""

    active = 0
    most_active = 0
    lock = threading.Lock()

    def __init__(self, value: int, seconds: float | None = 0.01, failures: int = 0) -> None:
        self.rowcount, self.value, self.seconds, self.failures = 1, value, seconds, failures
        self.downloads = 0

    def to_arrow(self) -> pa.Table:
        with SlowBatch.lock:
            SlowBatch.active += 1
            SlowBatch.most_active = max(SlowBatch.most_active, SlowBatch.active)
        try:
            self.downloads += 1
            if self.seconds is None:
                threading.Event().wait()
            time.sleep(self.seconds)
            if self.downloads <= self.failures:
                raise OSError("HTTP 403 for https://bucket.example/chunk?X-Amz-Signature=abc")
            return pa.table({"value": [self.value]})
        finally:
            with SlowBatch.lock:
                SlowBatch.active -= 1


def _batch_slices(count: int) -> list[BatchSlice]:
    return [BatchSlice(index, 0, 1) for index in range(count)]


def test_downloads_keep_result_order_with_a_bounded_number_in_flight() -> None:
    SlowBatch.most_active = 0
    batches = [SlowBatch(i, seconds=0.05 if i % 3 else 0.001) for i in range(30)]
    settings = DownloadSettings(download_threads=3, download_timeout_seconds=10)
    tables = download_batches(ResultBatches("q1", batches), _batch_slices(30), "training", settings)
    assert [t.column("value")[0].as_py() for t in tables] == list(range(30))
    assert SlowBatch.most_active == 3
    assert all(batch.downloads == 1 for batch in batches)


def test_a_failed_download_is_retried_with_fresh_batches() -> None:
    stale = [SlowBatch(i, failures=5 if i == 2 else 0) for i in range(4)]
    fresh = [SlowBatch(i) for i in range(4)]
    reopened = []
    result = ResultBatches("q2", stale, lambda: reopened.append(1) or fresh)
    tables = list(download_batches(result, _batch_slices(4), "training", DownloadSettings(2, 10)))
    assert [t.column("value")[0].as_py() for t in tables] == [0, 1, 2, 3]
    assert reopened == [1] and stale[2].downloads == 1 and fresh[2].downloads == 1


def test_a_download_that_keeps_failing_names_query_and_chunk_without_the_url() -> None:
    batches = [SlowBatch(0), SlowBatch(1, failures=99)]
    result = ResultBatches("q3", batches, lambda: batches)
    with pytest.raises(UserError) as raised:
        list(download_batches(result, _batch_slices(2), "training", DownloadSettings(2, 10)))
    message = str(raised.value)
    assert "Chunk 1" in message and "q3" in message and "Signature" not in message
    assert batches[1].downloads == 3  # attempts


def test_a_download_that_never_answers_ends_within_the_bound() -> None:
    batches = [SlowBatch(0), SlowBatch(1, seconds=None), SlowBatch(2)]
    started = time.monotonic()
    with pytest.raises(UserError, match=r"Chunk 1 of the training result .*q4.* within 1s"):
        list(
            download_batches(
                ResultBatches("q4", batches), _batch_slices(3), "training", DownloadSettings(2, 1)
            )
        )
    assert time.monotonic() - started < 5
