"""Snowflake's name rules: what a table, column or query id may look like, and how names are
stored and quoted.

Settings validate names with these rules before any network call; the SQL builder quotes
with them; training's column settings and serving's request fields find their columns by
``columns_named``, one rule for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import UserError

_UNQUOTED_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]*"
_QUOTED_IDENTIFIER = r'"(?:[^"]|"")+"'
_IDENTIFIER = f"(?:{_UNQUOTED_IDENTIFIER}|{_QUOTED_IDENTIFIER})"
_QUALIFIED_NAME = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER}){{0,2}}")
_COLUMN_NAME = re.compile(_IDENTIFIER)
# A Snowflake query id (a UUID): one of the two ways to name a point in the past.
QUERY_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def stored_name(identifier: str) -> str:
    """The name Snowflake stores for an identifier: a "quoted" one exact, an unquoted one upper."""
    identifier = identifier.strip()
    if len(identifier) > 1 and identifier.startswith('"') and identifier.endswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.upper()


def columns_named(requested: str, names: Iterable[str]) -> list[str]:
    """The column names among ``names`` that ``requested`` names: one, none, or (ambiguous)
    several.

    Snowflake's rule first: a "quoted" name matches exactly, an unquoted one matches the name
    Snowflake stores for it, upper-case (``medinc`` -> ``MEDINC``). An unquoted name that
    matches nothing by that rule then matches the names that differ from it only in case, so
    that ``MedInc`` (a setting, or a JSON key spelled as the column is) finds a quoted,
    mixed-case column ``"MedInc"``; when two such columns differ only in case, it matches both
    and the caller asks for the "quoted" spelling.
    """
    names = list(names)
    exact = [name for name in names if name == stored_name(requested)]
    if exact or requested.strip().startswith('"'):
        return exact
    folded = requested.strip().casefold()
    return [name for name in names if name.casefold() == folded]


def quote(identifier: str) -> str:
    """``identifier`` as a "quoted" Snowflake identifier (inner quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


def name_parts(name: str) -> list[str]:
    """The parts of a validated, optionally qualified name, as written: ``db``, ``s``, ``t``."""
    return re.findall(_IDENTIFIER, name)


def validate_table_name(name: str, where: str) -> str:
    """``name`` if it is a valid (optionally qualified) Snowflake identifier."""
    name = name.strip()
    if not _QUALIFIED_NAME.fullmatch(name):
        raise UserError(
            f"{where}={name!r} is not a valid Snowflake table name. Use "
            "[database.][schema.]table with unquoted names (letters, digits, _ and $) or "
            '"quoted" names; to read anything else, pass a SELECT as query instead.'
        )
    return name


def validate_column_name(column: str, where: str) -> str:
    """``column`` if it is a valid Snowflake column name (unquoted or "quoted")."""
    if not isinstance(column, str) or not _COLUMN_NAME.fullmatch(column):
        raise UserError(
            f"{where}: {column!r} is not a valid Snowflake column name "
            '(letters, digits, _ and $, or a "quoted" name).'
        )
    return column
