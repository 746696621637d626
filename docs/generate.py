"""Writes the generated parts of docs/: settings.md, and the module table in architecture.md.

Their sources are the code: the settings table (``snowflake_xgb/config/settings.py``) and the
module table in the package's docstring (``snowflake_xgb/__init__.py``). ``make docs`` runs this;
``tests/test_docs.py`` fails while a file differs from what it would write.
"""

from __future__ import annotations

import re
from pathlib import Path

import snowflake_xgb
from snowflake_xgb.config import settings

DOCS = Path(__file__).resolve().parent
PACKAGE = Path(snowflake_xgb.__file__).resolve().parent
SETTINGS_PAGE = DOCS / "settings.md"
ARCHITECTURE_PAGE = DOCS / "architecture.md"
TABLE_START = "<!-- module table: generated from snowflake_xgb/__init__.py by `make docs` -->"
TABLE_END = "<!-- end of the module table -->"


def module_rows() -> list[tuple[str, str]]:
    """(module, what it owns) for each row of the package docstring's table, in its order."""
    rules = [m.end() for m in re.finditer(r"^=+ +=+$", snowflake_xgb.__doc__, re.MULTILINE)]
    table = snowflake_xgb.__doc__[rules[0] : rules[1]]
    return re.findall(r"^``([\w.]+)``\s+(.+?)\s*$", table, re.MULTILINE)


def module_table() -> str:
    """The module table as Markdown, each module linked to its file."""
    lines = ["| module (in the order of the flow) | owns |", "| --- | --- |"]
    for name, owns in module_rows():
        path = PACKAGE.joinpath(*name.split("."))
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        link = "../" + file.relative_to(PACKAGE.parent).as_posix()
        lines.append(f"| [`{name}`]({link}) | {owns.replace('``', '`')} |")
    return "\n".join(lines) + "\n"


def architecture_page(current: str) -> str:
    """architecture.md with its module table regenerated; the prose around it is kept."""
    start = current.index(TABLE_START) + len(TABLE_START)
    end = current.index(TABLE_END)
    return f"{current[:start]}\n\n{module_table()}\n{current[end:]}"


def generated_pages() -> dict[Path, str]:
    """Each generated page and the text it must hold."""
    return {
        SETTINGS_PAGE: settings.reference_page(),
        ARCHITECTURE_PAGE: architecture_page(ARCHITECTURE_PAGE.read_text()),
    }


if __name__ == "__main__":
    for page, text in generated_pages().items():
        if not page.exists() or page.read_text() != text:
            page.write_text(text)
            print(f"wrote {page.relative_to(DOCS.parent)}")
