"""One stored result loaded by the connector's path and by ours, each case its own process.

``python benchmarks/loader_by_id.py --rows N --repeat R [--base DIR]``: the stand-in's
Snowflake-shaped front serves an N-row table (gzip'd chunks growing to 160,000 rows, 100 ms to
each download's first byte, 25 MB/s per download); the query runs once, then every case reads
that stored result by id: the connector's ``fetch_arrow_all`` -> ``QuantileDMatrix``, our
loader (``build_matrix``, 4 downloads in flight) from this checkout and, with ``--base``, from
another tree's package (``git archive REV snowflake_xgb | tar -x -C DIR``). Cases alternate,
``--repeat`` rounds; each prints its wall and CPU seconds and peak memory above its baseline
(``memory.PeakWindow``) as a JSON line. The A/B of docs/benchmarks.md (issue 27, item 1).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABEL = "MEDHOUSEVAL"
TABLE = "BENCH.PUBLIC.HOUSING"


def worker(case: str, port: int, qid: str, code: str) -> None:
    if code != "-":
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
        sys.path.insert(0, code)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import pyarrow.compute as pc
    import xgboost as xgb
    from memory import PeakWindow
    from workers import connect

    connection = connect(port)
    cursor = connection.cursor()
    cursor.query_result(qid)
    with PeakWindow() as window:
        if case == "connector":
            arrow = cursor.fetch_arrow_all()
            label = pc.cast(arrow.column(LABEL), "float32").to_numpy()
            features = arrow.drop_columns([LABEL])
            names = features.column_names
            del arrow
            matrix = xgb.QuantileDMatrix(features.to_pandas(), label, feature_names=names)
            del features, label
        else:
            import snowflake_xgb
            from snowflake_xgb.config.job_config import DownloadSettings, MatrixSettings
            from snowflake_xgb.loading.matrices import build_matrix
            from snowflake_xgb.loading.slices import HostSlice, iter_arrow
            from snowflake_xgb.model_files.columns import ColumnSelection

            assert snowflake_xgb.__file__.startswith(code), snowflake_xgb.__file__
            batches = cursor.get_result_batches()
            names = [c.name for c in cursor.description]
            columns = ColumnSelection(tuple(n for n in names if n != LABEL), LABEL)
            host_slice = HostSlice.plan("training", qid, batches, 0, 1)
            with tempfile.TemporaryDirectory() as work:
                matrix = build_matrix(
                    lambda: iter_arrow(batches, host_slice, columns.all, DownloadSettings(4, 120)),
                    columns,
                    "training",
                    MatrixSettings(),
                    Path(work),
                )
    result = {"case": case, "rows": matrix.num_row(), **window.report("load_")}
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", help="a folder holding another tree's snowflake_xgb package")
    args = parser.parse_args()
    rows, repeats, base = args.rows, args.repeat, args.base
    sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "local_test")]
    from network import front_settings
    from seed_standins import create_housing_table
    from standin_servers import standin_servers
    from workers import connect

    settings = front_settings(first_byte_ms=100, download_mbps=25)
    logs = Path(tempfile.mkdtemp(prefix="measure-"))
    with standin_servers(logs, settings=settings) as endpoints:
        port = endpoints.snowflake_port
        with connect(port, network_timeout=900) as connection:
            create_housing_table(connection, TABLE, rows=rows, stand_in=True)
            cursor = connection.cursor()
            started = time.monotonic()
            cursor.execute(f"SELECT * FROM {TABLE}")
            qid = cursor.sfqid
            print(f"query {qid}: {time.monotonic() - started:.1f}s", flush=True)
        results = []
        for repeat in range(repeats):
            cases = [("connector", "-"), ("ours", str(REPO))]
            if base:
                cases.insert(1, ("ours-base", base))
            for case, code in cases:
                out = subprocess.run(
                    [sys.executable, __file__, "worker", case, str(port), qid, code],
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                if not line:
                    print(case, "failed", out.stdout[-2000:], out.stderr[-3000:], flush=True)
                    continue
                result = json.loads(line[0][7:])
                result["case"], result["repeat"] = case, repeat
                print(json.dumps(result), flush=True)
                results.append(result)
        print("load average", os.getloadavg())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main()
