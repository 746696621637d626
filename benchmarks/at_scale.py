"""The ``at-scale`` section: 100M and 1B rows on 4, 16 and 64 hosts, on paper, from measured rates.

``rates`` (a ``workers.py`` case, one core, ``nthread=1``) measures on this machine, on a table
as wide as the paper's (50 float features + label, Arrow float64 as Snowflake sends FLOAT):
rows per core-second to unpack a gzip'd Arrow chunk, to convert Arrow to our float32 blocks,
and for XGBoost's ``QuantileDMatrix`` build (sketch + quantisation); the bytes per row of the
matrix XGBoost keeps and of one round's training state. ``scale_rows`` turns them, with the
stated ``Assumptions``, into per-host chunk counts, memory, download and load time, so the
table is reproducible from one run's figures (``--rates-rows`` rows are measured).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

from harness import row, run_case, table
from workers import WORKERS

MB = 1e6
PAPER_FEATURES = 50
PAPER_ROWS = (100_000_000, 1_000_000_000)
PAPER_HOSTS = (4, 16, 64)
# Anyscale's Ray Snowflake connector reading result batches in parallel: 150M rows, 25,874.89
# MB in 28.29 s, "mean throughput" 1,380.59 MB/s in the same row of their table (the bytes over
# the time are 915 MB/s) (https://anyscale.github.io/ray_db/content/snowflake/benchmarks.html).
ANYSCALE_ROWS, ANYSCALE_MB, ANYSCALE_SECONDS = 150_000_000, 25_874.89, 28.29
ANYSCALE_MEAN_MB_PER_SECOND = 1_380.59


@dataclass(frozen=True)
class Rates:
    """What ``workers.py rates`` measured on one core of this machine."""

    features: int
    unpack_rows_per_core_second: float
    convert_rows_per_core_second: float
    sketch_rows_per_core_second: float
    matrix_bytes_per_row: float
    train_state_bytes_per_row: float
    arrow_bytes_per_row: float
    gzip_ratio: float

    @classmethod
    def from_result(cls, result: dict) -> Rates:
        return cls(**{f.name: result[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Assumptions:
    """What is not measured here. Chunks: Snowflake cuts a result into chunks that start small
    and grow (connector maintainers, snowflakedb/gosnowflake#1371) up to CLIENT_RESULT_CHUNK_SIZE
    of uncompressed data (16 to 160 MB, default 160: docs.snowflake.com/en/sql-reference/
    parameters, enforced as a cap by the 2026_04 bundle, BCR-2319); the growth factor is not
    documented: 1.5 from 1 MB, as the stand-in's shape. S3: "one concurrent request for each
    85-90 MB/s of desired network throughput" (AWS, Performance design patterns for Amazon S3,
    docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-design-patterns.html),
    ``download_threads`` requests at once, within the host's network. Cores: conversion and
    unpacking on the download threads, the sketch on every core; per-core rates scale with
    cores (optimistic for the sketch)."""

    chunk_cap_mb: float = 160.0
    first_chunk_mb: float = 1.0
    chunk_growth: float = 1.5
    s3_mb_per_second_per_request: float = 90.0
    download_threads: int = 4
    host_network_mb_per_second: float = 1250.0  # 10 Gbit/s
    cores_per_host: int = 16

    @property
    def host_mb_per_second(self) -> float:
        """One host's download rate: its requests in flight, within its network."""
        return min(
            self.download_threads * self.s3_mb_per_second_per_request,
            self.host_network_mb_per_second,
        )


@dataclass(frozen=True)
class ScaleRow:
    rows: int
    hosts: int
    chunks: int
    chunks_at_16_mb: int
    download_mb_per_host: float
    download_seconds: float
    build_core_seconds: float
    load_seconds_overlapped: float
    load_seconds_download_then_build: float
    in_memory_mb_per_host: float
    external_memory_mb_per_host: float


def chunk_count(total_mb: float, cap_mb: float, first_mb: float, growth: float) -> int:
    """Chunks of a result of ``total_mb`` uncompressed: growing from ``first_mb`` to ``cap_mb``."""
    count, size, cut = 0, first_mb, 0.0
    while cut < total_mb:
        cut += min(size, cap_mb)
        size *= growth
        count += 1
    return count


def scale_row(rows: int, hosts: int, rates: Rates, assume: Assumptions) -> ScaleRow:
    """One line of the paper table: ``rows`` rows read by ``hosts`` hosts."""
    total_mb = rows * rates.arrow_bytes_per_row / MB
    host_rows = rows / hosts
    download_mb = host_rows * rates.arrow_bytes_per_row * rates.gzip_ratio / MB
    download_s = download_mb / assume.host_mb_per_second
    unpack_convert = host_rows * (
        1 / rates.unpack_rows_per_core_second + 1 / rates.convert_rows_per_core_second
    )
    sketch = host_rows / rates.sketch_rows_per_core_second
    overlapped = max(
        download_s, unpack_convert / assume.download_threads, sketch / assume.cores_per_host
    )
    serial = download_s + (unpack_convert + sketch) / assume.cores_per_host
    in_flight_mb = assume.download_threads * assume.chunk_cap_mb
    state_mb = host_rows * rates.train_state_bytes_per_row / MB
    return ScaleRow(
        rows=rows,
        hosts=hosts,
        chunks=chunk_count(
            total_mb, assume.chunk_cap_mb, assume.first_chunk_mb, assume.chunk_growth
        ),
        chunks_at_16_mb=chunk_count(total_mb, 16.0, assume.first_chunk_mb, assume.chunk_growth),
        download_mb_per_host=download_mb,
        download_seconds=download_s,
        build_core_seconds=unpack_convert + sketch,
        load_seconds_overlapped=overlapped,
        load_seconds_download_then_build=serial,
        in_memory_mb_per_host=host_rows * rates.matrix_bytes_per_row / MB + state_mb + in_flight_mb,
        external_memory_mb_per_host=state_mb + in_flight_mb,
    )


def scale_rows(rates: Rates, assume: Assumptions = Assumptions()) -> list[ScaleRow]:
    """The paper table: every ``PAPER_ROWS`` x ``PAPER_HOSTS`` case."""
    return [scale_row(rows, hosts, rates, assume) for rows in PAPER_ROWS for hosts in PAPER_HOSTS]


def at_scale_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"at-scale: one core's rates on {args.rates_rows:,} rows x 50 floats", flush=True)
    command = [*WORKERS, "rates", "--rows", str(args.rates_rows),
               "--extra-features", str(PAPER_FEATURES - 8)]  # fmt: skip
    return run_case("rates", command, work)


def _gb(mb: float) -> str:
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"


def at_scale_report(args: argparse.Namespace, measured: dict, targets: list) -> list[str]:
    rates, assume = Rates.from_result(measured), Assumptions()
    lines = [
        f"## At scale, on paper: {PAPER_FEATURES} float features, from this machine's rates",
        "",
        f"Measured on one core ({measured['rows']:,} rows): unpack a gzip'd Arrow chunk "
        f"{rates.unpack_rows_per_core_second:,.0f} rows/s, convert to float32 blocks "
        f"{rates.convert_rows_per_core_second:,.0f} rows/s, `QuantileDMatrix` (sketch + "
        f"quantise) {rates.sketch_rows_per_core_second:,.0f} rows/s; matrix "
        f"{rates.matrix_bytes_per_row:.0f} B/row, one round's training state "
        f"{rates.train_state_bytes_per_row:.0f} B/row; Arrow {rates.arrow_bytes_per_row:.0f} "
        f"B/row, gzip'd to {rates.gzip_ratio:.2f}x (generated data).",
        "",
        f"Assumed: {', '.join(f'{f.name}={getattr(assume, f.name)}' for f in fields(assume))} "
        "(see `Assumptions` in benchmarks/at_scale.py for sources).",
        "",
    ]
    body = [
        row(
            f"{r.rows / 1e6:,.0f}M",
            r.hosts,
            f"{r.chunks:,} ({r.chunks_at_16_mb:,})",
            _gb(r.download_mb_per_host),
            f"{r.download_seconds:.0f} s",
            f"{r.build_core_seconds:.0f} s",
            f"{r.load_seconds_overlapped:.0f} s",
            f"{r.load_seconds_download_then_build:.0f} s",
            f"{r.rows / r.load_seconds_overlapped / 1e6:.1f}M",
            _gb(r.in_memory_mb_per_host),
            _gb(r.external_memory_mb_per_host),
        )
        for r in scale_rows(rates, assume)
    ]
    lines += table(
        ("rows", "hosts", "chunks (at a 16 MB cap)", "download per host (gzip'd)",
         "download at S3 rates", "build, core-seconds per host", "load, overlapped",
         "load, download then build", "rows/s, all hosts", "memory per host, in memory",
         "memory per host, external memory"),
        body,
    )  # fmt: skip
    anyscale = ANYSCALE_MB / ANYSCALE_SECONDS
    lines += [
        f"Anyscale's Ray reader (the fastest published): {ANYSCALE_ROWS / 1e6:.0f}M rows, "
        f"{ANYSCALE_MB / 1000:.1f} GB in {ANYSCALE_SECONDS} s ({anyscale / 1000:.2f} GB/s; their "
        f"table's mean throughput {ANYSCALE_MEAN_MB_PER_SECOND / 1000:.2f} GB/s; "
        f"{ANYSCALE_ROWS / ANYSCALE_SECONDS / 1e6:.1f}M rows/s) into Ray's Arrow blocks, no "
        "matrix, on a cluster of unstated size. "
        "At the assumed S3 rate each host here downloads "
        f"{assume.host_mb_per_second / 1000:.2f} GB/s; hosts add up.",
        "",
    ]
    return lines
