"""A chunked result source like real Snowflake's: many Arrow IPC files of a few MB, read lazily.

Real Snowflake sends a large result as many compressed Arrow chunks that the connector
downloads one at a time (``ResultBatch.rowcount`` + ``to_arrow()``). ``IpcBatch`` has the same
interface (the loader's ``ArrowBatch`` protocol) over a local Arrow IPC file: nothing is read
until ``to_arrow()``, which decompresses the file into fresh memory like a download would.

The data are the demo table's columns (8 housing-like float features and the MEDHOUSEVAL label,
FLOAT -> Arrow float64 as Snowflake sends it), generated with NumPy from a per-file seed, so a
data set is reproducible and written once per size.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

FEATURES = (
    "MEDINC",
    "HOUSEAGE",
    "AVEROOMS",
    "AVEBEDRMS",
    "POPULATION",
    "AVEOCCUP",
    "LATITUDE",
    "LONGITUDE",
)
LABEL = "MEDHOUSEVAL"
ROWS_PER_FILE = 65_536  # 9 float64 columns: 4.7 MB per file before compression


def feature_names(extra: int = 0) -> tuple[str, ...]:
    """The demo table's features, then ``extra`` noise features (for a wider table)."""
    return (*FEATURES, *(f"NOISE{i:03d}" for i in range(extra)))


def housing_columns(rows: int, seed: int, extra: int = 0) -> dict[str, np.ndarray]:
    """Generated rows with the demo table's ranges and label formula (see seed_standins.py),
    plus ``extra`` uniform noise features the label does not depend on."""
    rng = np.random.default_rng(seed)
    u = rng.random((11, rows))
    medinc = np.round(0.5 + 14.5 * u[0] ** 1.8, 4)
    houseage = np.floor(1 + 51 * u[1])
    averooms = np.round(3.0 + 5.0 * u[2] + 2.9 * u[0] ** 1.8, 4)
    avebedrms = np.round(0.9 + 0.4 * u[3], 4)
    population = np.floor(3 + 3500 * u[4] ** 1.5)
    aveoccup = np.round(1.5 + 3.5 * u[5], 4)
    latitude = np.round(32.54 + 9.41 * u[6], 2)
    longitude = np.round(-124.35 + 10.04 * u[7], 2)
    noise = u[8] + u[9] + u[10] - 1.5
    label = np.clip(
        0.45 * medinc
        + 0.01 * houseage
        - 0.08 * (averooms - 5.4)
        - 0.35 * np.abs(latitude - 34.0)
        - 0.02 * (longitude + 118.0) * (latitude - 35.0)
        + 0.3 * noise
        - 0.2,
        0.15,
        5.0,
    )
    values = (medinc, houseage, averooms, avebedrms, population, aveoccup, latitude, longitude)
    noise = {name: rng.random(rows) for name in feature_names(extra)[len(FEATURES) :]}
    return {**dict(zip(FEATURES, values, strict=True)), **noise, LABEL: label}


@dataclass(frozen=True)
class IpcBatch:
    """One result chunk on local disk; ``to_arrow()`` reads (decompresses) it on demand."""

    path: Path
    rowcount: int

    def to_arrow(self) -> pa.Table:
        with pa.OSFile(str(self.path), "rb") as source:
            return ipc.open_file(source).read_all()


def cached_dataset(
    folder: Path, rows: int, per_file: int, make_table: Callable[[int, int], pa.Table]
) -> list[IpcBatch]:
    """The batches of a ``rows``-row data set in ``folder``, written on first use.

    ``make_table(count, index)`` makes the ``index``-th file's ``count`` rows; each file is an
    lz4 Arrow IPC file of at most ``per_file`` rows, listed in ``manifest.json``.
    """
    manifest = folder / "manifest.json"
    if not manifest.exists():
        folder.mkdir(parents=True, exist_ok=True)
        counts = []
        options = ipc.IpcWriteOptions(compression="lz4")
        for index, start in enumerate(range(0, rows, per_file)):
            count = min(per_file, rows - start)
            table = make_table(count, index)
            with ipc.new_file(
                str(folder / f"{index:06d}.arrow"), table.schema, options=options
            ) as w:
                w.write_table(table)
            counts.append(count)
        manifest.write_text(json.dumps({"rows": rows, "counts": counts}))
    counts = json.loads(manifest.read_text())["counts"]
    return [IpcBatch(folder / f"{i:06d}.arrow", n) for i, n in enumerate(counts)]


def ensure_dataset(root: Path, rows: int, seed: int = 0, extra: int = 0) -> list[IpcBatch]:
    """The batches of a ``rows``-row data set under ``root`` (written on first use)."""
    folder = root / (f"housing-{rows}-seed{seed}" + (f"-wide{extra}" if extra else ""))
    per_file = ROWS_PER_FILE * 9 // (len(feature_names(extra)) + 1)  # a few MB each
    return cached_dataset(
        folder,
        rows,
        per_file,
        lambda count, index: pa.table(housing_columns(count, seed * 1_000_003 + index, extra)),
    )


def load_numpy(batches: list[IpcBatch]) -> tuple[np.ndarray, np.ndarray]:
    """The whole data set as one float32 feature matrix and label (the in-memory floor)."""
    rows = sum(batch.rowcount for batch in batches)
    features = np.empty((rows, len(FEATURES)), dtype=np.float32)
    label = np.empty(rows, dtype=np.float32)
    start = 0
    for batch in batches:
        table = batch.to_arrow()
        end = start + table.num_rows
        for index, name in enumerate(FEATURES):
            features[start:end, index] = table.column(name).to_numpy()
        label[start:end] = table.column(LABEL).to_numpy()
        start = end
    return features, label
