"""Query results held by the stand-in front, cut into chunks and served as Snowflake serves them.

Snowflake answers a large query with a small inline first chunk (``rowsetBase64``) and a list of
chunks in cloud storage, each an Arrow IPC stream, gzip-compressed, behind a presigned URL that
expires. This store keeps each Arrow result the front has seen (chunks spooled to disk), answers
a reopen of it without running anything again, and serves the chunks with the latency, bandwidth
and faults its settings ask for, counting every download. When a statement finishes is
``query_lifecycle``'s; how a chunk's Arrow is re-encoded, ``arrow_encodings``'. Standard library
and pyarrow only: it runs in the stand-ins' own environment.
"""

from __future__ import annotations

import base64
import gzip
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from arrow_encodings import as_decfloat, chunk_types, ipc_stream, json_rowset, natural_table

SSE_C_KEY_HEADER = "x-amz-server-side-encryption-customer-key"
MAX_HELD_RESULTS = 64  # older results are forgotten, as Snowflake drops results after a day
RESULT_FORMATS = ("ARROW", "JSON")


@dataclass(frozen=True)
class ResultSettings:
    """How results are held, cut into chunks and served; changed through the front's control
    route.

    first_chunk_rows: rows sent inline; ``chunk_rows`` 0 sends every result whole (like fakesnow).
    chunk_rows, chunk_growth, max_chunk_rows: the first remote chunk's rows, the factor each
        next chunk grows by (Snowflake's chunks grow), and a cap (0: none).
    min_rows: results with fewer rows are sent whole.
    first_byte_seconds, bytes_per_second: per download (0: none / unlimited).
    url_lifetime_seconds: a chunk URL answers 403 this long after it was handed out (0: never).
    url_downloads: the chunk URLs of one answer (a first response or a read by id) answer 403
        once this many chunks have been downloaded through them (0: never): an expiry that
        comes at a known point of a download, however fast or loaded the machine.
    slow_batches, slow_batch_seconds: downloads of the batch indexes in ``[first, last]`` wait
        this long before answering (one host slower than another: its rows are in those).
    fail_times: {batch index: downloads answered 503 before it succeeds}.
    hang_batches: batch indexes whose download never answers.
    chunk_headers: send ``chunkHeaders`` instead of ``qrmk`` (Azure/GCS style).
    result_scan_shuffles: ``RESULT_SCAN('<id>')`` answers as Snowflake may: a new query (new id,
        its own chunks) whose rows come in a different order each time. False: the held
        result as it is (a kindness Snowflake does not promise).
    result_lifetime_seconds: a held result is forgotten this long after it was made (Snowflake:
        24 hours); later reads get Snowflake's expired-result answer (0: kept).
    vary_chunk_types: each chunk of a result carries its own Arrow physical types, as Snowflake
        chooses them per chunk (``chunk_types``): NUMBER columns (scaled or not) as int8, int16,
        int32, int64 or decimal128, in turn by chunk among those that hold the chunk's values;
        timestamps without a time zone alternately as Snowflake's two-field struct (epoch,
        fraction) and one int64 in units of the column's scale.
    decfloat_columns: NUMBER columns sent as DECFLOAT (Arrow ``logicalType`` DECFLOAT, a struct
        of int16 exponent and binary significand), the rest of the column's description kept.
    """

    first_chunk_rows: int = 1000
    chunk_rows: int = 0
    chunk_growth: float = 1.0
    max_chunk_rows: int = 0
    min_rows: int = 0
    first_byte_seconds: float = 0.0
    bytes_per_second: float = 0.0
    url_lifetime_seconds: float = 0.0
    url_downloads: int = 0
    slow_batches: tuple[int, ...] = ()
    slow_batch_seconds: float = 0.0
    fail_times: dict[int, int] = field(default_factory=dict)
    hang_batches: tuple[int, ...] = ()
    chunk_headers: bool = False
    result_scan_shuffles: bool = True
    result_lifetime_seconds: float = 0.0
    vary_chunk_types: bool = False
    decfloat_columns: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ResultSettings:
        """The settings a control request names (JSON values); the rest at their defaults."""
        settings = cls(**document)
        slow_batches = tuple(int(i) for i in settings.slow_batches)
        if slow_batches and len(slow_batches) != 2:
            raise ValueError("slow_batches is [first, last] (batch indexes, both included)")
        return replace(
            settings,
            slow_batches=slow_batches,
            fail_times={int(k): int(v) for k, v in settings.fail_times.items()},
            hang_batches=tuple(int(i) for i in settings.hang_batches),
            decfloat_columns=tuple(str(name) for name in settings.decfloat_columns),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def is_slow(self, batch: int) -> bool:
        """Whether downloads of ``batch`` wait ``slow_batch_seconds`` before answering."""
        return bool(self.slow_batches) and self.slow_batches[0] <= batch <= self.slow_batches[1]

    def chunk_sizes(self, total: int) -> list[int]:
        """Rows of each batch: the inline one first, then the remote chunks."""
        if not self.chunk_rows or total <= max(self.min_rows, self.first_chunk_rows):
            return [total]
        sizes, left, size = [min(self.first_chunk_rows, total)], total, float(self.chunk_rows)
        left -= sizes[0]
        while left > 0:
            rows = max(1, int(size))
            if self.max_chunk_rows:
                rows = min(rows, self.max_chunk_rows)
            sizes.append(min(rows, left))
            left -= sizes[-1]
            size *= self.chunk_growth
        return sizes


@dataclass
class HeldResult:
    """One query's result: its response fields, inline chunk and spooled remote chunks."""

    query_id: str
    response: dict[str, Any]  # the upstream ``data`` without its rowset
    folder: Path
    rows: list[int]  # per batch, inline first
    uncompressed: list[int]
    compressed: list[int]
    qrmk: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    made: float = field(default_factory=time.monotonic)
    _parquet_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inline(self) -> str:
        return (self.folder / "inline.b64").read_text()

    def chunk_path(self, batch: int) -> Path:
        return self.folder / f"{batch:05d}.arrow.gz"

    def table(self) -> pa.Table:
        """Every row, in result order."""
        with pa.memory_map(str(self.folder / "all.arrow")) as source:
            return pa.ipc.open_file(source).read_all()

    def parquet(self) -> Path:
        """Every row as a Parquet file, for DuckDB (fakesnow) to read in a query."""
        path = self.folder / "all.parquet"
        with self._parquet_lock:  # two statements may read it at once; one writes it
            if not path.exists():
                pq.write_table(natural_table(self.table()), str(path.with_suffix(".tmp")))
                path.with_suffix(".tmp").rename(path)
        return path


class ResultStore:
    """Holds results, answers them (first response or reopen), serves and counts downloads."""

    def __init__(self, settings: ResultSettings, spool: Path | None = None) -> None:
        self.settings = settings
        self._own_spool = spool is None
        self.spool = spool or Path(tempfile.mkdtemp(prefix="snowflake-front-"))
        self._results: OrderedDict[str, HeldResult] = OrderedDict()
        self._aliases: dict[str, str] = {}  # reopened query id -> the result it reads
        self._forgotten: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.in_flight = 0
        self.reset_counters()

    # -- control ----------------------------------------------------------------------------
    def reset_counters(self) -> None:
        with self._lock:
            self.downloads: list[dict[str, Any]] = []
            self.attempts: dict[tuple[str, int], int] = {}
            self.max_in_flight = self.in_flight  # downloads still running stay counted
            self.reopens = 0  # RESULT_SCANs answered: each a new query materializing a result
            self.result_reads = 0  # GET /queries/{id}/result answered: nothing run again
            self.json_results = 0  # results answered as JSON rowsets
            self.url_uses: dict[str, int] = {}  # an answer's URL signature -> chunks served

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "downloads": list(self.downloads),
                "max_in_flight": self.max_in_flight,
                "reopens": self.reopens,
                "result_reads": self.result_reads,
                "json_results": self.json_results,
                "results": {qid: {"rows": held.rows} for qid, held in self._results.items()},
            }

    def forget(self, query_id: str) -> bool:
        """Drop a result, as Snowflake does when it expires; later reopens find nothing."""
        with self._lock:
            held = self._results.pop(self._aliases.get(query_id, query_id), None)
            self._forgotten.add(query_id)
        if held is not None:
            shutil.rmtree(held.folder, ignore_errors=True)
        return held is not None

    def close(self) -> None:
        self._stopping.set()
        if self._own_spool:
            shutil.rmtree(self.spool, ignore_errors=True)

    # -- results ----------------------------------------------------------------------------
    def holds(self, query_id: str) -> bool:
        with self._lock:
            return self._aliases.get(query_id, query_id) in self._results

    def was_forgotten(self, query_id: str) -> bool:
        self._get(query_id)  # forgets it when its lifetime is over
        with self._lock:
            return query_id in self._forgotten

    def _get(self, query_id: str) -> HeldResult | None:
        with self._lock:
            held = self._results.get(self._aliases.get(query_id, query_id))
        lifetime = self.settings.result_lifetime_seconds
        if held is not None and lifetime and time.monotonic() - held.made > lifetime:
            self.forget(held.query_id)
            return None
        return held

    def parquet_of(self, query_id: str) -> Path | None:
        held = self._get(query_id)
        return held.parquet() if held is not None and (held.folder / "all.arrow").exists() else None

    def columns_of(self, query_id: str) -> list[dict[str, Any]] | None:
        """A held result's ``rowtype`` (its columns as Snowflake describes them); None: not held."""
        held = self._get(query_id)
        return held.response.get("rowtype") if held is not None else None

    def hold(self, data: dict[str, Any]) -> HeldResult:
        """Keep an Arrow result from upstream's ``data``, cut as the settings say."""
        rowset = data.get("rowsetBase64") or ""
        table = pa.ipc.open_stream(base64.b64decode(rowset)).read_all() if rowset else None
        response = {k: v for k, v in data.items() if k not in ("rowsetBase64", "chunks")}
        return self._hold_table(data["queryId"], response, table, rowset)

    def result_scan(self, query_id: str, new_query_id: str) -> HeldResult | None:
        """``RESULT_SCAN`` as Snowflake may answer it: a new result, rows in a new order."""
        held = self._get(query_id)
        if held is None:
            return None
        table = held.table()
        order = list(range(table.num_rows))
        secrets.SystemRandom().shuffle(order)
        shuffled = table.take(pa.array(order, pa.int64()))
        with self._lock:
            self.reopens += 1
        return self._hold_table(new_query_id, {**held.response, "queryId": new_query_id},
                                shuffled, None)  # fmt: skip

    def _hold_table(
        self, query_id: str, response: dict[str, Any], table: pa.Table | None, rowset: str | None
    ) -> HeldResult:
        settings = self.settings
        total = table.num_rows if table is not None else 0
        sizes = settings.chunk_sizes(total) if table is not None else [0]
        folder = self.spool / f"{query_id}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        held = HeldResult(query_id, response, folder, sizes, [0] * len(sizes), [0] * len(sizes))
        if table is not None:
            path = str(folder / "all.arrow")
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        vary = (settings.vary_chunk_types or settings.decfloat_columns) and table is not None

        def chunk(batch: int, start: int) -> pa.Table:
            rows = table.slice(start, sizes[batch])
            if settings.vary_chunk_types:
                rows = chunk_types(rows, batch)
            return (
                as_decfloat(rows, settings.decfloat_columns) if settings.decfloat_columns else rows
            )

        if len(sizes) == 1:
            whole = rowset if (rowset is not None and not vary) or table is None else None
            if whole is None:
                whole = base64.b64encode(ipc_stream(chunk(0, 0))).decode()
            (folder / "inline.b64").write_text(whole or "")
        else:
            first = ipc_stream(chunk(0, 0))
            (folder / "inline.b64").write_text(base64.b64encode(first).decode())
            start = sizes[0]
            for batch in range(1, len(sizes)):
                raw = ipc_stream(chunk(batch, start))
                packed = gzip.compress(raw, compresslevel=1)
                held.chunk_path(batch).write_bytes(packed)
                held.uncompressed[batch], held.compressed[batch] = len(raw), len(packed)
                start += sizes[batch]
        with self._lock:
            self._results[query_id] = held
            while len(self._results) > MAX_HELD_RESULTS:
                _, old = self._results.popitem(last=False)
                shutil.rmtree(old.folder, ignore_errors=True)
        return held

    def answer(
        self,
        query_id: str,
        base_url: str,
        reader: int,
        new_query_id: str | None = None,
        result_format: str = "ARROW",
    ) -> dict[str, Any] | None:
        """The ``data`` of a response carrying result ``query_id`` (None: not held), in Arrow
        chunks or, for ``result_format`` JSON, as one inline ``rowset`` of strings."""
        held = self._get(query_id)
        if held is None:
            return None
        if new_query_id is not None:
            with self._lock:
                self._aliases[new_query_id] = held.query_id
                self.reopens += 1
        if result_format == "JSON":
            table = held.table() if (held.folder / "all.arrow").exists() else None
            rowset = json_rowset(table, held.response.get("rowtype") or [])
            with self._lock:
                self.json_results += 1
            return {**held.response, "queryResultFormat": "json", "rowset": rowset,
                    "total": len(rowset), "queryId": new_query_id or held.query_id}  # fmt: skip
        data = {**held.response, "rowsetBase64": held.inline(), "total": sum(held.rows)}
        data["queryId"] = new_query_id or held.query_id
        if len(held.rows) > 1:
            expires = 0.0
            if self.settings.url_lifetime_seconds:
                expires = time.time() + self.settings.url_lifetime_seconds
            signature = secrets.token_hex(8)  # one per answer: its URLs expire together
            data["chunks"] = [
                {
                    "url": f"{base_url}/results/{held.query_id}/{batch}"
                    f"?reader={reader}&expires={expires:.3f}&sig={signature}",
                    "rowCount": held.rows[batch],
                    "uncompressedSize": held.uncompressed[batch],
                    "compressedSize": held.compressed[batch],
                }
                for batch in range(1, len(held.rows))
            ]
            if self.settings.chunk_headers:
                data["chunkHeaders"] = {"x-ms-snowflake-chunk": held.qrmk[:12]}
            else:
                data["qrmk"] = held.qrmk
        return data

    def read_by_id(
        self, query_id: str, base_url: str, reader: int, result_format: str = "ARROW"
    ) -> dict[str, Any] | None:
        """``GET /queries/{id}/result``: the original result, its chunks in order, fresh URLs."""
        data = self.answer(query_id, base_url, reader, result_format=result_format)
        if data is not None:
            with self._lock:
                self.result_reads += 1
        return data

    # -- downloads --------------------------------------------------------------------------
    def serve_chunk(
        self, query_id: str, batch: int, params: dict[str, str], headers: Any, respond: Any
    ) -> None:
        """Answer one chunk download through ``respond(status, headers, body_writer)``."""
        held = self._get(query_id)
        reader = int(params.get("reader", 0))
        if held is None or not 1 <= batch < len(held.rows):
            respond(404, _s3_error("NoSuchKey", "The specified key does not exist."))
            return
        settings = self.settings
        expected = (
            ("x-ms-snowflake-chunk", held.qrmk[:12])
            if settings.chunk_headers
            else (SSE_C_KEY_HEADER, held.qrmk)
        )
        # Connector 4.x sends the key or headers given; 5.x's core sends none over plain HTTP.
        if headers.get(expected[0]) not in (None, expected[1]):
            respond(400, _s3_error("InvalidArgument", "The encryption key is wrong."))
            return
        expires = float(params.get("expires", 0) or 0)
        signature = params.get("sig", "")
        with self._lock:
            used = self.url_uses.get(signature, 0)
        worn_out = settings.url_downloads and used >= settings.url_downloads
        if (expires and time.time() > expires) or worn_out:
            self._record(held.query_id, batch, reader, 403, 0, 0.0)
            respond(403, _s3_error("AccessDenied", "Request has expired"))
            return
        started = time.monotonic()
        with self._lock:
            attempt = self.attempts[(held.query_id, batch)] = (
                self.attempts.get((held.query_id, batch), 0) + 1
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if batch in settings.hang_batches:
                self._stopping.wait()  # never answers while the front runs
                return
            if attempt <= settings.fail_times.get(batch, 0):
                self._record(held.query_id, batch, reader, 503, 0, 0.0)
                respond(503, _s3_error("SlowDown", "Please reduce your request rate."))
                return
            body = held.chunk_path(batch).read_bytes()
            if settings.first_byte_seconds:
                time.sleep(settings.first_byte_seconds)
            if settings.is_slow(batch):
                self._stopping.wait(settings.slow_batch_seconds)
            respond(200, body, settings.bytes_per_second)
            with self._lock:
                self.url_uses[signature] = self.url_uses.get(signature, 0) + 1
            self._record(held.query_id, batch, reader, 200, len(body), time.monotonic() - started)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _record(
        self, query_id: str, batch: int, reader: int, status: int, size: int, seconds: float
    ) -> None:
        with self._lock:
            self.downloads.append(
                {"query_id": query_id, "batch": batch, "reader": reader, "status": status,
                 "bytes": size, "seconds": round(seconds, 4)}
            )  # fmt: skip


def _s3_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


def write_throttled(out: BinaryIO, body: bytes, bytes_per_second: float) -> None:
    """Write ``body``, no faster than ``bytes_per_second`` (0: at once)."""
    if not bytes_per_second:
        out.write(body)
        return
    piece = max(1, int(bytes_per_second / 20))  # 20 writes a second
    started = time.monotonic()
    for offset in range(0, len(body), piece):
        out.write(body[offset : offset + piece])
        due = started + (offset + piece) / bytes_per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
