"""Query results held by the stand-in front, cut into chunks and served as Snowflake serves them.

Snowflake answers a large query with a small inline first chunk (``rowsetBase64``) and a list of
chunks in cloud storage, each an Arrow IPC stream, gzip-compressed, behind a presigned URL that
expires. This store keeps each Arrow result the front has seen (chunks spooled to disk), answers
a reopen of it without running anything again, and serves the chunks with the latency, bandwidth
and faults its settings ask for, counting every download. Only the standard library, numpy and
pyarrow: it runs in the stand-ins' own environment.
"""

from __future__ import annotations

import base64
import gzip
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SSE_C_KEY_HEADER = "x-amz-server-side-encryption-customer-key"
MAX_HELD_RESULTS = 64  # older results are forgotten, as Snowflake drops results after a day
RESULT_FORMATS = ("ARROW", "JSON")
# Statuses after which a query is over without a result (connector ``is_an_error``).
ERROR_STATUSES = (
    "ABORTING", "FAILED_WITH_ERROR", "ABORTED", "FAILED_WITH_INCIDENT", "DISCONNECTED",
)  # fmt: skip


# Snowflake ends a statement at the session's STATEMENT_TIMEOUT_IN_SECONDS with this error
# (status FAILED_WITH_ERROR), as users quote it (docs/snowflake-contract.md, row 8).
STATEMENT_TIMED_OUT = {
    "code": "000630",
    "sqlState": "57014",
    "message": "Statement reached its statement or warehouse timeout of {} second(s) and was "
    "canceled.",
}
NO_STATUS_ANSWERS = ("EMPTY", "NO_DATA")  # an empty query list, or the status NO_DATA


@dataclass
class Submission:
    """A query the front times: asynchronous, or a statement matched by ``slow_statements``.

    It is QUEUED for ``queued_seconds`` after ``at``, then RUNNING for ``running_seconds``;
    ``timeout_seconds`` (the session's STATEMENT_TIMEOUT_IN_SECONDS, 0: none) ends it earlier
    with Snowflake's timeout error.
    """

    session: str  # the submitting session's token
    at: float = field(default_factory=time.monotonic)
    queued_seconds: float = 0.0
    running_seconds: float = 0.0
    timeout_seconds: float = 0.0
    synchronous: bool = False

    def phase(self, now: float) -> str | None:
        """QUEUED, RUNNING or None (done) at monotonic time ``now``."""
        elapsed = now - self.at
        if elapsed < self.queued_seconds:
            return "QUEUED"
        if elapsed < self.queued_seconds + self.running_seconds:
            return "RUNNING"
        return None

    def ends_at(self) -> float:
        return self.at + self.queued_seconds + self.running_seconds

    def times_out(self) -> bool:
        """Whether the statement timeout ends it before it is done."""
        return bool(self.timeout_seconds) and (
            self.queued_seconds + self.running_seconds > self.timeout_seconds
        )


@dataclass(frozen=True)
class SlowStatement:
    """Statements whose text matches ``match`` (a regular expression, searched, ignoring case):
    QUEUED for ``queued_seconds``, then RUNNING for ``running_seconds``, synchronous or not."""

    match: str
    queued_seconds: float = 0.0
    running_seconds: float = 0.0

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> SlowStatement:
        try:
            re.compile(str(document["match"]))  # a bad pattern is refused when it is set
        except re.error as error:
            raise ValueError(f"slow_statements: {document['match']!r}: {error}") from None
        return cls(
            str(document["match"]),
            float(document.get("queued_seconds", 0)),
            float(document.get("running_seconds", 0)),
        )

    def matches(self, sql: str) -> bool:
        return re.search(self.match, sql, re.IGNORECASE | re.DOTALL) is not None


@dataclass
class ChunkSettings:
    """How results are cut and served; changed at run time through the front's control route.

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
    statuses_before_success: the statuses ``/monitoring/queries/{id}`` reports for a query, one
        per call, before SUCCESS (e.g. QUEUED, RESUMING_WAREHOUSE, RESTARTED, or a status the
        connector does not know). An error status (FAILED_WITH_ERROR, ABORTED, ...) ends the
        query: it stays so, and reading its result answers the error.
    running_seconds: an asynchronous submission reports RUNNING this long after it was
        submitted (fakesnow has run it already; 0: done at once).
    slow_statements: statements chosen by their text that take a while, synchronous or
        asynchronous: each ``{"match": regex, "queued_seconds": q, "running_seconds": r}``
        (``SlowStatement``; the first that matches counts). Their status is QUEUED, then
        RUNNING; reading the result by id answers "in progress" (333333 for a synchronous
        statement, 333334 for an asynchronous one) until it is done; a synchronous submission
        is answered when the statement is done or after ``in_progress_hold_seconds``, whichever
        comes first, with 333333 and the URL to poll, as Snowflake answers a long statement
        (the connector then polls ``getResultUrl``). The session's STATEMENT_TIMEOUT_IN_SECONDS
        (sent at login) ends a statement that runs longer with Snowflake's error 000630.
    in_progress_hold_seconds: how long the front holds a submission or a read by id of a
        statement still running before answering "in progress" (Snowflake: about 45 s).
    no_status_seconds: for this long after a timed query is submitted, ``/monitoring/queries``
        knows nothing of it, as Snowflake in a query's first moments; ``no_status_answer`` says
        how: ``EMPTY`` (an empty query list) or ``NO_DATA`` (that status).
    cancel_on_logout: a session's logout (``POST /session?delete=true``) cancels every
        asynchronous query it submitted that has not finished, as Snowflake does: its status
        becomes ABORTED and reading its result answers 000604 "SQL execution canceled".
    account_result_format: the account's PYTHON_CONNECTOR_QUERY_RESULT_FORMAT, for sessions
        that do not set it (ARROW or JSON); a session answered JSON gets ``rowset`` rows.
    login_session_parameters: the login reply carries the session parameters, as Snowflake's
        does (False: fakesnow's reply, without them).
    table_changes: statements run just before a statement of the job, as another session
        changing a table between two statements would: each ``{"before": text, "nth": n,
        "sql": statement}`` runs once, before the n-th (default 1st) statement containing
        ``text`` (case-insensitive).
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
    slow_batches: list[int] = field(default_factory=list)
    slow_batch_seconds: float = 0.0
    fail_times: dict[int, int] = field(default_factory=dict)
    hang_batches: list[int] = field(default_factory=list)
    chunk_headers: bool = False
    result_scan_shuffles: bool = True
    result_lifetime_seconds: float = 0.0
    statuses_before_success: list[str] = field(default_factory=list)
    running_seconds: float = 0.0
    slow_statements: list[dict[str, Any]] = field(default_factory=list)
    in_progress_hold_seconds: float = 45.0
    no_status_seconds: float = 0.0
    no_status_answer: str = "EMPTY"
    cancel_on_logout: bool = True
    account_result_format: str = "ARROW"
    login_session_parameters: bool = True
    table_changes: list[dict[str, Any]] = field(default_factory=list)
    vary_chunk_types: bool = False
    decfloat_columns: list[str] = field(default_factory=list)

    def updated(self, changes: dict[str, Any]) -> ChunkSettings:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        merged = {**asdict(self), **changes}
        merged["fail_times"] = {int(k): int(v) for k, v in merged["fail_times"].items()}
        merged["hang_batches"] = [int(i) for i in merged["hang_batches"]]
        merged["slow_batches"] = [int(i) for i in merged["slow_batches"]]
        if merged["slow_batches"] and len(merged["slow_batches"]) != 2:
            raise ValueError("slow_batches is [first, last] (batch indexes, both included)")
        merged["statuses_before_success"] = [str(s) for s in merged["statuses_before_success"]]
        merged["decfloat_columns"] = [str(name) for name in merged["decfloat_columns"]]
        merged["slow_statements"] = [
            asdict(SlowStatement.from_json(dict(d))) for d in merged["slow_statements"]
        ]
        merged["no_status_answer"] = str(merged["no_status_answer"]).upper()
        if merged["no_status_answer"] not in NO_STATUS_ANSWERS:
            raise ValueError(f"no_status_answer must be one of {NO_STATUS_ANSWERS}")
        merged["account_result_format"] = str(merged["account_result_format"]).upper()
        if merged["account_result_format"] not in RESULT_FORMATS:
            raise ValueError(f"account_result_format must be one of {RESULT_FORMATS}")
        return ChunkSettings(**merged)

    def is_slow(self, batch: int) -> bool:
        """Whether downloads of ``batch`` wait ``slow_batch_seconds`` before answering."""
        return bool(self.slow_batches) and self.slow_batches[0] <= batch <= self.slow_batches[1]

    def slow_statement(self, sql: str) -> SlowStatement | None:
        """The first ``slow_statements`` entry whose pattern ``sql`` matches."""
        for document in self.slow_statements:
            slow = SlowStatement.from_json(document)
            if slow.matches(sql):
                return slow
        return None

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
        if not path.exists():
            import pyarrow.parquet as pq

            pq.write_table(natural_table(self.table()), str(path.with_suffix(".tmp")))
            path.with_suffix(".tmp").rename(path)
        return path


def _unscaled(column: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """A NUMBER column's unscaled integers (int64) and validity; None: beyond int64."""
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_decimal(column.type):
        if column.type.bit_width != 128:
            return None
        words = np.frombuffer(column.buffers()[1], dtype="<i8")
        words = words[2 * column.offset : 2 * (column.offset + len(column))].reshape(-1, 2)
        low, high = words[:, 0], words[:, 1]
        if np.any((high != (low >> 63))[valid]):
            return None
        return np.where(valid, low, 0), valid
    values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return values, valid


def _decimal128(values: np.ndarray, valid: np.ndarray, precision: int, scale: int) -> pa.Array:
    words = np.stack([values, values >> 63], axis=1).astype("<i8")
    mask = pa.array(valid, pa.bool_()).buffers()[1] if not valid.all() else None
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(values), [mask, pa.py_buffer(words.tobytes())]
    )


def _metadata(field: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}


def _fixed_chunk(column: pa.Array, scale: int, batch: int) -> pa.Array:
    """A NUMBER column as int8, int16, int32, int64 or decimal128, in turn by chunk among the
    types that hold its values (Snowflake picks the width per chunk)."""
    unscaled = _unscaled(column)
    if unscaled is None:
        return column
    values, valid = unscaled
    low, high = (int(values[valid].min()), int(values[valid].max())) if valid.any() else (0, 0)
    widths = (pa.int8(), pa.int16(), pa.int32(), pa.int64())
    fitting = [t for t in widths if np.iinfo(t.to_pandas_dtype()).min <= low]
    fitting = [t for t in fitting if high <= np.iinfo(t.to_pandas_dtype()).max]
    choices = [*fitting, pa.decimal128(38, scale)]
    chosen = choices[batch % len(choices)]
    if pa.types.is_decimal(chosen):
        return _decimal128(values, valid, 38, scale)
    return pa.array(values.astype(chosen.to_pandas_dtype()), chosen, mask=~valid)


def _one_field_timestamp(column: pa.Array, scale: int) -> pa.Array:
    """A two-field timestamp (epoch, fraction) as one int64 in units of 10^-scale seconds,
    when every value fits (Snowflake sends either)."""
    epoch = column.field("epoch").to_numpy(zero_copy_only=False).astype(np.int64)
    fraction = column.field("fraction").to_numpy(zero_copy_only=False).astype(np.int64)
    if not np.all(np.abs(epoch) < np.iinfo(np.int64).max // 10**scale - 1):
        return column
    values = epoch * 10**scale + fraction // 10 ** (9 - scale)
    mask = ~np.asarray(column.is_valid().to_numpy(zero_copy_only=False), bool)
    return pa.array(values, pa.int64(), mask=mask)


def chunk_types(table: pa.Table, batch: int) -> pa.Table:
    """``table`` (one chunk, as fakesnow encodes it) in the physical types Snowflake may choose
    for chunk number ``batch``; the values and each column's logical type stay the same."""
    arrays, schema = [], []
    for column_field, column in zip(table.schema, table.columns, strict=True):
        column = column.combine_chunks()
        meta = _metadata(column_field)
        logical, scale = meta.get("logicalType", ""), int(meta.get("scale") or 0)
        if logical == "FIXED":
            column = _fixed_chunk(column, scale, batch)
        elif logical in ("TIMESTAMP_NTZ", "TIMESTAMP_LTZ") and pa.types.is_struct(column.type):
            column = _one_field_timestamp(column, scale) if batch % 2 else column
        arrays.append(column)
        schema.append(column_field.with_type(column.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


def as_decfloat(table: pa.Table, names: list[str]) -> pa.Table:
    """The NUMBER columns ``names`` of ``table`` encoded as Snowflake sends DECFLOAT."""
    wanted = {name.upper() for name in names}
    arrays, schema = [], []
    for column_field, column in zip(table.schema, table.columns, strict=True):
        column = column.combine_chunks()
        unscaled = _unscaled(column) if column_field.name.upper() in wanted else None
        if unscaled is not None:
            values, valid = unscaled
            scale = int(_metadata(column_field).get("scale") or 0)
            significand = [int(v).to_bytes(16, "big", signed=True) for v in values]
            column = pa.StructArray.from_arrays(
                [pa.array([-scale] * len(values), pa.int16()), pa.array(significand, pa.binary())],
                names=["exponent", "significand"],
                mask=pa.array(~valid),
            )
            meta = {**_metadata(column_field), "logicalType": "DECFLOAT"}
            column_field = column_field.with_type(column.type).with_metadata(meta)
        arrays.append(column)
        schema.append(column_field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


def natural_table(table: pa.Table) -> pa.Table:
    """A result in Snowflake's Arrow encoding as plain Arrow types (what a query may read back):
    timestamps from epoch and fraction, times from nanoseconds, scaled numbers as decimals."""
    arrays = []
    for column_field, column in zip(table.schema, table.columns, strict=True):
        column = column.combine_chunks()
        meta = _metadata(column_field)
        logical, scale = meta.get("logicalType", ""), int(meta.get("scale") or 0)
        if logical.startswith("TIMESTAMP") and pa.types.is_struct(column.type):
            epoch = column.field("epoch").to_numpy(zero_copy_only=False).astype(np.int64)
            fraction = column.field("fraction").to_numpy(zero_copy_only=False).astype(np.int64)
            mask = ~np.asarray(column.is_valid().to_numpy(zero_copy_only=False), bool)
            tz = "UTC" if column.type.get_field_index("timezone") >= 0 else None
            column = pa.array(epoch * 10**9 + fraction, pa.timestamp("ns", tz), mask=mask)
        elif logical.startswith("TIMESTAMP") and pa.types.is_integer(column.type):
            column = pc.multiply(column.cast(pa.int64()), 10 ** (9 - scale)).cast(
                pa.timestamp("ns")
            )
        elif logical == "TIME" and pa.types.is_integer(column.type):
            column = pc.multiply(column.cast(pa.int64()), 10 ** (9 - scale)).cast(pa.time64("ns"))
        elif logical == "FIXED" and scale > 0 and pa.types.is_integer(column.type):
            values, valid = _unscaled(column)  # type: ignore[misc]
            column = _decimal128(values, valid, 38, scale)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def _ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class ResultStore:
    """Holds results, answers them (first response or reopen), serves and counts downloads."""

    def __init__(self, settings: ChunkSettings | None = None, spool: Path | None = None) -> None:
        self.initial_settings = settings or ChunkSettings()
        self.settings = self.initial_settings
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
            self.status_calls: dict[str, int] = {}
            self.submissions: dict[str, Submission] = {}
            self.ended: dict[str, str] = {}  # query id -> the error status it ended with
            self.failures: dict[str, dict[str, str]] = {}  # query id -> its own error
            self.request_ids: dict[str, str] = {}  # request id -> the timed query it submitted
            self.cancelled: list[str] = []  # queries a logout or a cancel request cancelled
            self.in_progress_answers: dict[str, int] = {}  # "in progress" answers, by code
            self.logouts = 0
            self.json_results = 0  # results answered as JSON rowsets
            self.matches: dict[int, int] = {}  # table change -> statements it matched
            self.url_uses: dict[str, int] = {}  # an answer's URL signature -> chunks served

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "downloads": list(self.downloads),
                "max_in_flight": self.max_in_flight,
                "reopens": self.reopens,
                "result_reads": self.result_reads,
                "cancelled": list(self.cancelled),
                "in_progress_answers": dict(self.in_progress_answers),
                "logouts": self.logouts,
                "status_calls": dict(self.status_calls),
                "submissions": len(self.submissions),
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

    def table_changes_before(self, sql: str) -> list[str]:
        """The table changes due before statement ``sql`` (each is handed out once)."""
        due = []
        with self._lock:
            for number, change in enumerate(self.settings.table_changes):
                if str(change["before"]).lower() in sql.lower():
                    self.matches[number] = self.matches.get(number, 0) + 1
                    if self.matches[number] == int(change.get("nth", 1)):
                        due.append(str(change["sql"]))
        return due

    def parquet_of(self, query_id: str) -> Path | None:
        held = self._get(query_id)
        return held.parquet() if held is not None and (held.folder / "all.arrow").exists() else None

    def columns_of(self, query_id: str) -> list[dict[str, Any]] | None:
        """A held result's ``rowtype`` (its columns as Snowflake describes them); None: not held."""
        held = self._get(query_id)
        return held.response.get("rowtype") if held is not None else None

    def status(self, query_id: str) -> str | None:
        """What ``/monitoring/queries/{id}`` reports now: the error it ended with, else the
        next configured status, else nothing (None) or NO_DATA in its first moments, else
        QUEUED or RUNNING while it is due to, else SUCCESS."""
        settings = self.settings
        now = time.monotonic()
        with self._lock:
            self._expire(query_id, now)
            if query_id in self.ended:
                return self.ended[query_id]
            calls = self.status_calls[query_id] = self.status_calls.get(query_id, 0) + 1
            if calls <= len(settings.statuses_before_success):
                status = settings.statuses_before_success[calls - 1]
                if status in ERROR_STATUSES:
                    self.ended[query_id] = status
                return status
            submission = self.submissions.get(query_id)
        if submission is None:
            return "SUCCESS"
        if now < submission.at + settings.no_status_seconds:
            return None if settings.no_status_answer == "EMPTY" else "NO_DATA"
        return submission.phase(now) or "SUCCESS"

    def ended_with(self, query_id: str) -> str | None:
        """The error status a query ended with (None: it did not fail)."""
        with self._lock:
            self._expire(query_id, time.monotonic())
            return self.ended.get(query_id)

    def failure(self, query_id: str) -> dict[str, str] | None:
        """Snowflake's error for a query that ended with one it says itself (a timeout)."""
        with self._lock:
            return self.failures.get(query_id)

    def _expire(self, query_id: str, now: float) -> None:
        """End a statement its session's timeout has run out on (called with the lock held)."""
        submission = self.submissions.get(query_id)
        if (
            submission is None
            or query_id in self.ended
            or not submission.times_out()
            or now < submission.at + submission.timeout_seconds
        ):
            return
        self.ended[query_id] = "FAILED_WITH_ERROR"
        seconds = f"{submission.timeout_seconds:g}"
        message = STATEMENT_TIMED_OUT["message"].format(seconds)
        self.failures[query_id] = {**STATEMENT_TIMED_OUT, "message": message}

    def submitted(
        self,
        query_id: str,
        session: str,
        sql: str = "",
        synchronous: bool = False,
        timeout_seconds: float = 0.0,
        request_id: str | None = None,
    ) -> Submission | None:
        """Record a submission by the session with token ``session``: every asynchronous one,
        and a synchronous one that ``slow_statements`` matches (None: not timed)."""
        settings = self.settings
        slow = settings.slow_statement(sql)
        if slow is None and synchronous:
            return None
        submission = Submission(
            session,
            queued_seconds=slow.queued_seconds if slow else 0.0,
            running_seconds=slow.running_seconds if slow else settings.running_seconds,
            timeout_seconds=timeout_seconds,
            synchronous=synchronous,
        )
        with self._lock:
            self.submissions[query_id] = submission
            if request_id:
                self.request_ids[request_id] = query_id
        return submission

    def wait_while_running(self, query_id: str, hold_seconds: float) -> bool:
        """Hold until a timed query is over, at most ``hold_seconds``; whether it is over."""
        deadline = time.monotonic() + hold_seconds
        while self.running(query_id):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._stopping.wait(min(left, 0.05))
        return True

    def answered_in_progress(self, code: str) -> None:
        with self._lock:
            self.in_progress_answers[code] = self.in_progress_answers.get(code, 0) + 1

    def is_synchronous(self, query_id: str) -> bool:
        with self._lock:
            submission = self.submissions.get(query_id)
        return submission is not None and submission.synchronous

    def _finished(self, query_id: str) -> bool:
        """Whether a query is over (called with the lock held)."""
        now = time.monotonic()
        self._expire(query_id, now)
        if query_id in self.ended:
            return True
        statuses_left = self.status_calls.get(query_id, 0) < len(
            self.settings.statuses_before_success
        )
        return not (statuses_left or self.submissions[query_id].phase(now))

    def running(self, query_id: str) -> bool:
        """Whether a timed query has not finished yet."""
        with self._lock:
            return query_id in self.submissions and not self._finished(query_id)

    def cancel(self, query_id: str | None = None, request_id: str | None = None) -> str | None:
        """Cancel a timed query that is still running (by id, or by the request id that
        submitted it), as ``SYSTEM$CANCEL_QUERY`` and the abort requests do; its id, or None
        when no such query was running."""
        with self._lock:
            if query_id is None:
                query_id = self.request_ids.get(request_id or "")
            if query_id is None or query_id not in self.submissions or self._finished(query_id):
                return None
            self.ended[query_id] = "ABORTED"
            self.cancelled.append(query_id)
        return query_id

    def logged_out(self, session: str) -> list[str]:
        """A session logged out: cancel its unfinished asynchronous queries (when set to)."""
        with self._lock:
            self.logouts += 1
        if not self.settings.cancel_on_logout:
            return []
        with self._lock:
            cancelled = [
                query_id
                for query_id, submission in self.submissions.items()
                if submission.session == session and not self._finished(query_id)
            ]
            for query_id in cancelled:
                self.ended[query_id] = "ABORTED"
            self.cancelled.extend(cancelled)
        return cancelled

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
            part = table.slice(start, sizes[batch])
            if settings.vary_chunk_types:
                part = chunk_types(part, batch)
            return (
                as_decfloat(part, settings.decfloat_columns) if settings.decfloat_columns else part
            )

        if len(sizes) == 1:
            whole = rowset if (rowset is not None and not vary) or table is None else None
            if whole is None:
                whole = base64.b64encode(_ipc_stream(chunk(0, 0))).decode()
            (folder / "inline.b64").write_text(whole or "")
        else:
            first = _ipc_stream(chunk(0, 0))
            (folder / "inline.b64").write_text(base64.b64encode(first).decode())
            start = sizes[0]
            for batch in range(1, len(sizes)):
                raw = _ipc_stream(chunk(batch, start))
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


def json_rowset(table: pa.Table | None, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    """Rows as Snowflake's JSON result format sends them: every value a string (or null);
    NUMBER as its digits, BOOLEAN as "1"/"0", DATE as days since 1970-01-01, TIMESTAMP_NTZ as
    seconds since the epoch with the fraction (what the connector's converter reads)."""
    if table is None:
        return []
    columns = []
    for index, column in enumerate(table.columns):
        kind = str((rowtype[index] if index < len(rowtype) else {}).get("type", "")).lower()
        columns.append([_json_value(value, kind) for value in column.to_pylist()])
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _json_value(value: Any, kind: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict) and "epoch" in value:  # a timestamp, as Snowflake's Arrow struct
        return f"{value['epoch']}.{int(value.get('fraction') or 0):09d}"
    if kind == "date" and hasattr(value, "toordinal"):
        return str(value.toordinal() - 719163)  # date(1970, 1, 1).toordinal()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


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
