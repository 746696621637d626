"""The outbound-call guard: nothing the tests run may reach beyond this machine.

``install_guard(log)`` adds an audit hook (``sys.addaudithook``) to this Python process: every
name lookup and every TCP connect it sees to anything but this machine is refused (the call
raises ``OutboundCallRefused`` before any packet is sent) and written to ``log``, one JSON line,
with the connects it let through. ``guard_environment(log)`` is what a child process needs to do
the same at its start (``outbound_guard/sitecustomize.py`` on ``PYTHONPATH``): the tests' job
hosts and every other Python process they start. ``refused_calls(log)`` reads the refusals back.

Python's audit hooks do not see the sockets of native code: connector 5.x's core (Rust) sends
its requests itself and logs each at INFO as ``outbound HTTP call method=...``, with
``host=...`` when the request is not for the session's own Snowflake host (platform
detection's STS call, say); ``connector_calls(text)`` picks them out of a job's output.

Standard library only (job processes import it before anything else).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import sys
from pathlib import Path

LOG_VARIABLE = "SNOWFLAKE_XGB_OUTBOUND_LOG"
GUARD_DIR = Path(__file__).resolve().parent / "outbound_guard"
# Names that resolve to this machine (an empty host is a wildcard bind).
LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost"}
_CONNECTOR_CALL = re.compile(r"outbound HTTP call\b(.*)")
_HOST_FIELD = re.compile(r"\bhost=([^\s,]+)")


class OutboundCallRefused(OSError):
    """A call to a host off this machine, refused by the tests' guard."""


def on_this_machine(host: object) -> bool:
    """A loopback or wildcard address, or a name that means this machine."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in LOCAL_NAMES or host == socket.gethostname().lower():
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def install_guard(log: str | os.PathLike) -> None:
    """Refuse (and log) every lookup and connect off this machine from now on, in this process."""
    path = os.fspath(log)
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else sys.executable

    def write(event: str, host: object, port: object, refused: bool) -> None:
        port = port if isinstance(port, int) else str(port)
        entry = {"pid": os.getpid(), "program": program, "event": event, "host": str(host)}
        entry.update(port=port, refused=refused)
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def hook(event: str, args: tuple) -> None:
        if event == "socket.getaddrinfo":
            host, port = args[0], args[1]
        elif event == "socket.connect":
            sock, address = args
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return  # Unix sockets (Docker's) stay on the machine
            host, port = address[0], address[1]
        else:
            return
        if event == "socket.getaddrinfo" and str(host).lower().rstrip(".").endswith(".invalid"):
            # RFC 6761: "invalid" names never resolve, and resolvers answer so at once.
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if on_this_machine(host):
            if event == "socket.connect":
                write(event, host, port, refused=False)
            return
        write(event, host, port, refused=True)
        raise OutboundCallRefused(
            f"the tests' guard refused a call off this machine: {host}:{port}"
        )

    sys.addaudithook(hook)


def guard_environment(log: str | os.PathLike, environ: dict[str, str] | None = None) -> dict:
    """The variables that install the guard in a child Python process (logging to ``log``)."""
    environ = os.environ if environ is None else environ
    path = [str(GUARD_DIR), *filter(None, [environ.get("PYTHONPATH")])]
    return {LOG_VARIABLE: os.fspath(log), "PYTHONPATH": os.pathsep.join(path)}


def guarded_calls(log: str | os.PathLike) -> list[dict]:
    """Every entry the guard wrote to ``log`` (connects let through, and refusals)."""
    path = Path(log)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def refused_calls(log: str | os.PathLike) -> list[dict]:
    return [entry for entry in guarded_calls(log) if entry["refused"]]


def connector_calls(text: str) -> list[str | None]:
    """Each ``outbound HTTP call`` the connector's core logged in ``text``: its ``host=`` field,
    or None for a request to the session's own Snowflake host (logged without one)."""
    calls = []
    for fields in _CONNECTOR_CALL.findall(text):
        host = _HOST_FIELD.search(fields)
        calls.append(host.group(1) if host else None)
    return calls
