"""This host's chunks of a query result, downloaded several at a time, handed out in result order.

Snowflake answers a large query with a list of result batches: the first inline, the others
gzip-compressed Arrow chunks in cloud storage behind presigned URLs that expire. Downloading
them one after another is latency-bound (tens of milliseconds before each first byte), so a
few worker threads download ahead while the caller converts. Bounds:

- memory: at most ``download_threads`` chunks are downloading or waiting to be taken, plus
  the one the caller holds;
- time: a download that has not finished ``download_timeout_seconds`` after it started ends
  the load with a reason naming the query and the chunk; a failed one is retried (with
  exponential backoff), each retry with fresh URLs from reading the stored result by query id
  again (expired URLs answer 403; the same chunks, in the same order);
- work: each chunk is downloaded once by this host unless a download fails.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from ..config.job_config import DownloadSettings
from ..errors import UserError
from .sharding import BatchSlice

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
ATTEMPTS = 3  # per chunk; each attempt includes the connector's own retries
BACKOFF_SECONDS = 1.0  # before the second attempt; doubled before each later one
URL = re.compile(r"https?://\S+")
# What ``to_arrow`` raises for a column type it cannot convert (DECFLOAT, which both connector
# lines describe as FIXED): no retry can help.
UNKNOWN_TYPE = re.compile(r"unknown Snowflake (?:data )?type\s*:\s*(\w+)", re.IGNORECASE)


def longest_chunk_seconds(settings: DownloadSettings) -> float:
    """The longest one chunk may take on a host that is still working: every attempt to its
    bound, and the backoffs between them (what a host waiting for a slower one allows)."""
    backoffs = BACKOFF_SECONDS * (2 ** (ATTEMPTS - 1) - 1)
    return ATTEMPTS * settings.download_timeout_seconds + backoffs


class ArrowBatch(Protocol):
    """What a download needs of a result batch (the connector's ``ResultBatch`` has both)."""

    rowcount: int

    def to_arrow(self) -> pa.Table: ...


@dataclass
class ChunkDownload:
    """One unit of work: download result batch ``batch_slice.batch_index`` for this host's slice."""

    batch_slice: BatchSlice
    result: Future = field(default_factory=Future)
    started: float | None = None  # when the current attempt began (None: not downloading)


class ResultBatches:
    """One query's result batches; ``renew`` swaps in fresh ones (new URLs) by reading the
    stored result by id again."""

    def __init__(
        self,
        query_id: str,
        batches: Sequence[ArrowBatch],
        reopen: Callable[[], Sequence[ArrowBatch]] | None = None,
    ) -> None:
        self.query_id = query_id
        self._batches = list(batches)
        self._reopen = reopen
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, index: int) -> tuple[int, ArrowBatch]:
        with self._lock:
            return self._generation, self._batches[index]

    @property
    def row_counts(self) -> list[int]:
        """Rows per batch, in result order (the same for every host)."""
        with self._lock:
            return [batch.rowcount for batch in self._batches]

    def renew(self, seen_generation: int) -> None:
        """Reopen the result, unless another download already did since ``seen_generation``."""
        with self._lock:
            if self._reopen is None or self._generation != seen_generation:
                return
            fresh = list(self._reopen())
            if [b.rowcount for b in fresh] != [b.rowcount for b in self._batches]:
                raise UserError(
                    f"Reading the result of query {self.query_id} again gave different batches "
                    "than before: the result changed while it was read. Run the job again."
                )
            self._batches = fresh
            self._generation += 1
            logger.info("query %s: result reopened for fresh download URLs", self.query_id)


def _download(work: ChunkDownload, batches: ResultBatches, stop: threading.Event) -> None:
    """Download one chunk (retrying, renewing URLs) into ``work.result``."""
    index = work.batch_slice.batch_index
    for attempt in range(1, ATTEMPTS + 1):
        try:
            generation, batch = batches.get(index)
            work.started = time.monotonic()
            table = batch.to_arrow()
            _check_types(table, batches.query_id)
            work.result.set_result(table)
            return
        except Exception as error:  # the connector's and the network's, on any line
            work.started = None
            if unknown := UNKNOWN_TYPE.search(str(error)):
                work.result.set_exception(_unreadable_type(batches.query_id, unknown.group(1)))
                return
            if attempt == ATTEMPTS or stop.is_set() or isinstance(error, UserError):
                work.result.set_exception(error)
                return
            delay = BACKOFF_SECONDS * 2 ** (attempt - 1)
            logger.warning(
                "query %s: chunk %d failed (attempt %d of %d; again in %.1fs with fresh URLs): %s",
                batches.query_id,
                index,
                attempt,
                ATTEMPTS,
                delay,
                _reason(error),
            )
            if stop.wait(delay):
                work.result.set_exception(error)
                return
            try:
                batches.renew(generation)
            except Exception as renew_error:
                work.result.set_exception(renew_error)
                return


def _unreadable_type(query_id: str, type_name: str, column: str = "X") -> UserError:
    named = f"column {column}" if column != "X" else "column"
    return UserError(
        f"The result of query {query_id} has a {type_name.upper()} {named}, which the Snowflake "
        "connector cannot hand out as Arrow (it describes the column as NUMBER): cast it in the "
        f"query, e.g. SELECT {column}::FLOAT AS {column} (or {column}::NUMBER(38, 10))."
    )


def _check_types(table: pa.Table, query_id: str) -> None:
    """Connector 4.8 hands a DECFLOAT column out unconverted (a struct of exponent and
    significand) where 5.x raises: refuse it by name either way."""
    for column in table.schema:
        logical = (column.metadata or {}).get(b"logicalType", b"").decode()
        is_struct = pa.types.is_struct(column.type)
        names = (
            {column.type.field(i).name for i in range(column.type.num_fields)}
            if is_struct
            else set()
        )
        if logical == "DECFLOAT" or names == {"exponent", "significand"}:
            raise _unreadable_type(query_id, "DECFLOAT", column.name)


def _reason(error: BaseException) -> str:
    """The error in one line, without URLs (presigned URLs carry signatures)."""
    text = " ".join(str(getattr(error, "msg", "") or error).split())
    return URL.sub("<url>", text)[:300] or type(error).__name__


def _worker(todo: queue.Queue, batches: ResultBatches, stop: threading.Event) -> None:
    while (work := todo.get()) is not None and not stop.is_set():
        _download(work, batches, stop)


def _take(work: ChunkDownload, batches: ResultBatches, what: str, timeout: float) -> pa.Table:
    """Wait for one chunk, at most ``timeout`` seconds after its current attempt began."""
    index = work.batch_slice.batch_index
    while True:
        try:
            return work.result.result(timeout=POLL_SECONDS)
        except FutureTimeout:
            started = work.started
            if started is not None and time.monotonic() - started > timeout:
                raise UserError(
                    f"Chunk {index} of the {what} result (query {batches.query_id}) did not "
                    f"download within {timeout:g}s. Check the network path from the training "
                    "hosts to Snowflake's result storage (NAT or VPC endpoint for its cloud "
                    "storage), or raise download_timeout_seconds."
                ) from None
        except UserError:
            raise
        except Exception as error:
            raise UserError(
                f"Chunk {index} of the {what} result (query {batches.query_id}) could not be "
                f"downloaded: {_reason(error)}. Check the network path from the training hosts "
                "to Snowflake's result storage (NAT or VPC endpoint for its cloud storage)."
            ) from None


def download_batches(
    batches: ResultBatches,
    batch_slices: Sequence[BatchSlice],
    what: str,
    settings: DownloadSettings | None = None,
) -> Iterator[pa.Table]:
    """The whole batches behind ``batch_slices``, downloaded ahead by worker threads, in order.

    Worker threads are daemons: a download that never answers cannot keep the process alive
    after the load has given up on it.
    """
    settings = settings or DownloadSettings()
    stop = threading.Event()
    todo: queue.Queue[ChunkDownload | None] = queue.Queue()
    waiting: deque[ChunkDownload] = deque()
    upcoming = iter(batch_slices)
    threads = max(1, min(settings.download_threads, len(batch_slices)))
    arguments = (todo, batches, stop)
    workers = [
        threading.Thread(target=_worker, args=arguments, daemon=True, name=f"download-{n}")
        for n in range(threads)
    ]

    def submit_next() -> None:
        batch_slice = next(upcoming, None)
        if batch_slice is not None:
            waiting.append(ChunkDownload(batch_slice))
            todo.put(waiting[-1])

    for worker in workers:
        worker.start()
    try:
        for _ in range(threads):
            submit_next()
        while waiting:
            table = _take(waiting.popleft(), batches, what, settings.download_timeout_seconds)
            submit_next()  # keep ``download_threads`` downloads going while the caller converts
            yield table
            table = None
    finally:
        stop.set()
        for _ in workers:
            todo.put(None)
