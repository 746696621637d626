"""Reading Markdown as GitHub renders it: headings, their anchors, and relative links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# A file named in a code span, in one of these folders and with a source file's suffix.
_CODE_PATH = re.compile(
    r"`((?:\.ci|benchmarks|docker|docs|examples|iam|local_test|snowflake_xgb|tests)/[\w./-]*"
    r"(?:\.(?:py|sh|md|json|toml|txt|ya?ml)|/))`"
)


@dataclass(frozen=True)
class Link:
    """A relative link as written in a Markdown file: a path (empty: the same file), an anchor."""

    source: Path
    path: str
    anchor: str

    def __str__(self) -> str:
        return f"{self.path}#{self.anchor}" if self.anchor else self.path


def without_code(text: str) -> str:
    """The text with fenced code blocks removed (their lines kept empty) and code spans blanked."""
    text = _FENCE.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return _CODE_SPAN.sub(lambda match: "`" + "x" * (len(match.group(0)) - 2) + "`", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text in lower case, punctuation other than
    ``-`` and ``_`` dropped, each space a hyphen (github-slugger's rule)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text)  # and HTML tags as nothing
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page has: one per heading (repeats get ``-1``, ``-2``...), and HTML ones."""
    found: set[str] = set(_HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(source: Path) -> list[Link]:
    """The links in ``source`` that point inside the repository (no scheme), in order."""
    text = without_code(source.read_text())
    targets = _INLINE_LINK.findall(text) + _REFERENCE.findall(text)
    links = []
    for target in targets:
        if _SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        links.append(Link(source, path, anchor))
    return links


def named_paths(source: Path) -> list[str]:
    """The repository files and folders that ``source`` names in code spans outside code blocks
    (``tests/test_api.py``, ``docker/locks/``), in order."""
    return _CODE_PATH.findall(_FENCE.sub("", source.read_text()))
