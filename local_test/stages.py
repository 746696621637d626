"""Internal stages for the Snowflake stand-in: ``PUT`` and ``COPY INTO`` as Snowflake answers them.

fakesnow has no stages. The front answers a ``PUT`` as Snowflake does, with the statement's
``stageInfo``, and the connector uploads the file itself: connector 4.x to ``LOCAL_FS`` (a
folder here; its S3 client always goes to ``https://<bucket>.<endPoint>``, which no stand-in
here can answer), connector 5.x to ``S3`` whose ``endPoint`` is the front (its core takes an
``http://`` endpoint and sends a path-style ``PUT /<bucket>/<key>``, which the front stores
in the same folder; 5.x has no ``LOCAL_FS``: "Unknown location type"). A ``COPY INTO <table> FROM
@stage/path`` loads the stage's Parquet files under that path into the fakesnow table (DuckDB
reads Parquet), skips files it already loaded into that table (Snowflake's load metadata),
removes them with ``PURGE = TRUE`` and answers one row per file (file, status, rows_parsed,
rows_loaded, ...). A table's own stage (``@%table``) and its load metadata go with the table
when it is replaced or dropped. Standard library and pyarrow only (the stand-ins' environment).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"{_NAME}(?:\.{_NAME}){{0,2}}"
PUT = re.compile(
    r"^\s*put\s+'?file://(?P<file>[^'\s]+)'?\s+'?(?P<stage>@[^'\s]+)'?(?P<options>.*)$",
    re.I | re.S,
)
COPY = re.compile(
    rf"^\s*copy\s+into\s+(?P<table>{_QUALIFIED})\s+from\s+'?(?P<stage>@[^'\s]+)'?(?P<options>.*)$",
    re.I | re.S,
)
# Statements that replace or drop a table, and with it its stage and load metadata.
TABLE_REPLACED = re.compile(
    rf"^\s*(?:create\s+or\s+replace\s+(?:transient\s+)?table|drop\s+table(?:\s+if\s+exists)?)"
    rf"\s+(?P<table>{_QUALIFIED})",
    re.I,
)
RENAME = re.compile(
    rf"^\s*alter\s+table\s+(?P<a>{_QUALIFIED})\s+rename\s+to\s+(?P<b>{_QUALIFIED})\s*;?\s*$", re.I
)
S3_BUCKET = "front-stage"  # the path prefix of the front's S3 route (connector 5.x uploads)
_OPTION = re.compile(r"(\w+)\s*=\s*('?[\w.]+'?)", re.I)


@dataclass
class StageSettings:
    """Switches for the stages, changed through ``/__front/stages``.

    copy_answer_seconds: a COPY INTO answers this long after its rows are in the table (a
        warehouse takes a while to load even a small file; a test can stop a job while its
        load is in flight).
    upload_bytes_per_second: how fast the stage takes a PUT's file (0: as fast as the disk);
        the connector copies the file itself, so this slows the PUT's answer beforehand.
    unprivileged: statements containing one of these texts (case-insensitive) are refused as
        Snowflake refuses a role without the privilege (003001, "Insufficient privileges").
    """

    copy_answer_seconds: float = 0.5
    upload_bytes_per_second: float = 0.0
    unprivileged: list[str] = field(default_factory=list)

    def updated(self, changes: dict[str, Any]) -> StageSettings:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise KeyError(f"unknown stage settings: {sorted(unknown)}")
        return StageSettings(**{**asdict(self), **changes})


# Snowflake's refusal of a statement the role lacks the privilege for, as users report it.
INSUFFICIENT_PRIVILEGES = {
    "code": "003001",
    "sqlState": "42501",
    "message": "SQL access control error:\nInsufficient privileges to operate on schema 'PUBLIC'",
}


def parts(name: str) -> list[str]:
    """A qualified name's parts as Snowflake stores them (unquoted: upper case)."""
    found = re.findall(_NAME, name)
    return [p[1:-1].replace('""', '"') if p.startswith('"') else p.upper() for p in found]


def table_key(name: str) -> str:
    return ".".join(parts(name))


def _options(text: str) -> dict[str, str]:
    return {k.upper(): v.strip("'").upper() for k, v in _OPTION.findall(text)}


class Stages:
    """Stage folders under ``root``, keyed by the stage named (a table stage by its table)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings = StageSettings()
        self._lock = threading.Lock()
        self._loaded: dict[str, set[tuple[str, str]]] = {}  # table -> (file, md5) loaded
        self.reset_counters()

    def reset_counters(self) -> None:
        with self._lock:
            self.puts = 0
            self.copies_started = 0
            self.copies_answered = 0
            self.rows_loaded = 0

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "puts": self.puts,
                "copies_started": self.copies_started,
                "copies_answered": self.copies_answered,
                "rows_loaded": self.rows_loaded,
            }

    def folder(self, stage: str) -> Path:
        """The folder of ``@name[/path]``, ``@%table[/path]`` or ``@~[/path]``."""
        reference, _, path = stage[1:].partition("/")
        if reference == "~":
            key = "USER"
        else:
            names = parts(reference.replace("%", ""))
            key = "TABLE-" + ".".join(names) if "%" in reference else "STAGE-" + ".".join(names)
        safe = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.root / safe / path.strip("/")

    def refusal(self, sql: str) -> dict[str, str] | None:
        """Snowflake's answer when the settings say the role may not run ``sql``."""
        lowered = sql.lower()
        if any(text.lower() in lowered for text in self.settings.unprivileged):
            return dict(INSUFFICIENT_PRIVILEGES)
        return None

    def put_answer(self, sql: str, query_id: str, s3_endpoint: str | None) -> dict[str, Any] | None:
        """Snowflake's answer to a PUT (the connector then uploads the file), or None; with
        ``s3_endpoint`` (the front's URL) an S3 stage there, else a ``LOCAL_FS`` one."""
        match = PUT.match(sql)
        if match is None:
            return None
        folder = self.folder(match["stage"])
        folder.mkdir(parents=True, exist_ok=True)
        options = _options(match["options"])
        with self._lock:
            self.puts += 1
        return {
            "command": "UPLOAD",
            "src_locations": [match["file"]],
            "parallel": int(options.get("PARALLEL", "4")),
            "autoCompress": options.get("AUTO_COMPRESS", "TRUE") == "TRUE",
            "sourceCompression": options.get("SOURCE_COMPRESSION", "AUTO_DETECT").lower(),
            "overwrite": options.get("OVERWRITE", "FALSE") == "TRUE",
            "stageInfo": self._stage_info(folder, s3_endpoint),
            "encryptionMaterial": None,
            "queryId": query_id,
            "rowtype": [],
            "rowset": [],
            "total": 0,
            "statementTypeId": 0x4200,  # Snowflake's PUT
        }

    def _stage_info(self, folder: Path, s3_endpoint: str | None) -> dict[str, Any]:
        info: dict[str, Any] = {
            "locationType": "LOCAL_FS",
            "location": str(folder) + "/",
            "path": "",
            "region": None,
            "storageAccount": None,
            "isClientSideEncrypted": False,
            "creds": {},
            "presignedUrl": None,
            "endPoint": None,
            "useRegionalUrl": False,
            "useVirtualUrl": False,
        }
        if s3_endpoint is None:
            return info
        key = folder.relative_to(self.root).as_posix()
        return {
            **info,
            "locationType": "S3",
            "location": f"{S3_BUCKET}/{key}/",
            "path": f"{key}/",
            "region": "us-east-1",
            "creds": {"AWS_KEY_ID": "stand-in", "AWS_SECRET_KEY": "stand-in", "AWS_TOKEN": "-"},
            "endPoint": s3_endpoint,
        }

    def upload(self, key: str, body: bytes) -> None:
        """An S3 ``PutObject`` of ``<bucket>/<key>`` (connector 5.x): the file, in its folder."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"not a stage path: {key}")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)

    def copy_plan(self, sql: str) -> tuple[str, list[tuple[Path, str, list[str]]], bool] | None:
        """A COPY INTO: (table, [(file, md5, columns)] not yet loaded into it, purge)."""
        match = COPY.match(sql)
        if match is None:
            return None
        table = match["table"]
        folder = self.folder(match["stage"])
        options = _options(match["options"])
        if options.get("TYPE", "PARQUET") != "PARQUET":
            raise ValueError("the stand-in's COPY INTO reads Parquet files only")
        with self._lock:
            self.copies_started += 1
            loaded = self._loaded.setdefault(table_key(table), set())
            files = []
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if not path.is_file() or path.name.endswith(".partial"):
                    continue
                digest = hashlib.md5(path.read_bytes()).hexdigest()
                if (path.name, digest) in loaded:
                    continue  # Snowflake's load metadata: a file is loaded into a table once
                files.append((path, digest, pq.read_schema(path).names))
        return table, files, options.get("PURGE", "FALSE") == "TRUE"

    def loaded(self, table: str, path: Path, digest: str, rows: int, purge: bool) -> None:
        with self._lock:
            self._loaded.setdefault(table_key(table), set()).add((path.name, digest))
            self.rows_loaded += rows
        if purge:
            path.unlink(missing_ok=True)

    def answered(self) -> None:
        with self._lock:
            self.copies_answered += 1

    def table_replaced(self, sql: str) -> None:
        """A CREATE OR REPLACE / DROP of a table: its stage and load metadata go with it."""
        match = TABLE_REPLACED.match(sql)
        if match is None:
            return
        key = table_key(match["table"])
        with self._lock:
            self._loaded.pop(key, None)
        shutil.rmtree(self.folder("@%" + match["table"]), ignore_errors=True)

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if body:
                self.settings = self.settings.updated(body)
            settings = asdict(self.settings)
        return {"settings": settings, "counters": self.counters()}
