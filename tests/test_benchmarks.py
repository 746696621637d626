"""The benchmarks' own logic: the paper table's arithmetic and the sections' command line.

``benchmarks/`` is a folder of scripts, not a package: ``at_scale`` is imported with that folder
on the path for the test's duration only (its module names do not clash with the tests').
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def at_scale(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import at_scale

    return at_scale


def test_chunks_grow_to_the_cap_then_stay_there(at_scale) -> None:
    # 1, 1.5, ..., 129.7 MB (13 growing chunks, 387 MB), then 160 MB chunks for the other 613.
    assert at_scale.chunk_count(1000.0, cap_mb=160.0, first_mb=1.0, growth=1.5) == 17
    assert at_scale.chunk_count(0.5, cap_mb=160.0, first_mb=1.0, growth=1.5) == 1


def test_each_host_downloads_and_holds_its_share(at_scale) -> None:
    rates = at_scale.Rates(
        features=50, unpack_rows_per_core_second=1e6, convert_rows_per_core_second=2e6,
        sketch_rows_per_core_second=1e5, matrix_bytes_per_row=54.0,
        train_state_bytes_per_row=16.0, arrow_bytes_per_row=408.0, gzip_ratio=0.85,
    )  # fmt: skip
    four, sixty_four = (at_scale.scale_row(10**9, hosts, rates, at_scale.Assumptions())
                        for hosts in (4, 64))  # fmt: skip
    assert sixty_four.download_mb_per_host == pytest.approx(four.download_mb_per_host / 16)
    assert four.download_mb_per_host == pytest.approx(10**9 / 4 * 408 * 0.85 / 1e6)
    assert four.chunks == sixty_four.chunks  # the result is cut once, whoever reads it
    assert four.external_memory_mb_per_host < four.in_memory_mb_per_host
    assert four.load_seconds_overlapped <= four.load_seconds_download_then_build


def test_an_unknown_section_is_refused_with_the_list_to_choose_from() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--sections", "network,nonesuch"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown section(s) nonesuch" in done.stderr
