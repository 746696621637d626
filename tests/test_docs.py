"""The documentation: every relative link and anchor resolves, and the generated pages are
current (the settings reference and the module table come from the code)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from support.markdown import anchors, named_paths, relative_links, slug

ROOT = Path(__file__).resolve().parents[1]
# README.md and docs/ first; the other folders' READMEs are linked from them and link back.
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    + [page for folder in ("iam", "examples", "docker") for page in (ROOT / folder).rglob("*.md")]
)


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for link in relative_links(page):
        target = (page.parent / link.path).resolve() if link.path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif (
            link.anchor
            and target.suffix == ".md"
            and link.anchor not in anchors(target.read_text())
        ):
            broken.append(f"{link}: no heading with this anchor in {target.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_file_the_page_names_exists(page: Path) -> None:
    missing = [path for path in named_paths(page) if not (ROOT / path).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names files that are not there: {missing}"


def test_the_docs_table_in_the_readme_lists_every_page_in_docs() -> None:
    linked = {(ROOT / link.path).resolve() for link in relative_links(ROOT / "README.md")}
    unlisted = [page.name for page in (ROOT / "docs").glob("*.md") if page.resolve() not in linked]
    assert not unlisted, f"docs not linked from README.md: {unlisted}"


def test_generated_pages_are_current() -> None:
    stale = [
        page.relative_to(ROOT).as_posix()
        for page, text in _generator().generated_pages().items()
        if not page.exists() or page.read_text() != text
    ]
    assert not stale, f"{stale} differ from the code they are generated from: run `make docs`"


def test_the_module_table_lists_every_module_of_the_package_docstring() -> None:
    generator = _generator()
    names = [name for name, _ in generator.module_rows()]
    assert names[:2] == ["errors", "redaction"] and "serving" in names
    assert len(names) == len(set(names)) > 40


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Keyless: sign in with the job's IAM role", "keyless-sign-in-with-the-jobs-iam-role"),
        ("Cross-validation (issue 13)", "cross-validation-issue-13"),
        ("Local mode (`make local`)", "local-mode-make-local"),
        (
            "The training role (`training-role-policy.json`)",
            "the-training-role-training-role-policyjson",
        ),
        (
            "Calls the libraries make: platform detection",
            "calls-the-libraries-make-platform-detection",
        ),
        ("`snake_case` and [a link](x.md)", "snake_case-and-a-link"),
        ("Reads 1/2/4/8 hosts", "reads-1248-hosts"),
    ],
)
def test_anchors_follow_githubs_rule(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors_and_code_is_not_a_heading() -> None:
    text = "# Results\n\n```bash\n# not a heading\n```\n\n## Results\n\n### Results\n"
    assert anchors(text) == {"results", "results-1", "results-2"}


def test_links_in_code_and_to_other_sites_are_not_checked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "See [a](a.md#intro), [b][ref] and [c](https://example.com/c.md).\n"
        "Code: `[x](not-a-link.md)`\n\n```\n[y](also-not.md)\n```\n\n[ref]: docs/b.md\n"
    )
    assert [str(link) for link in relative_links(page)] == ["a.md#intro", "docs/b.md"]


def test_files_named_in_code_spans_are_those_in_the_repository_folders(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Run `tests/test_api.py` and `local_test/make_venv.sh`; read `docker/locks/`, not "
        "`output/data/report.html` or `tests/<folder>/test_<name>*.py`.\n"
        "```\n`tests/in_a_block.py`\n```\n"
    )
    assert named_paths(page) == ["tests/test_api.py", "local_test/make_venv.sh", "docker/locks/"]
