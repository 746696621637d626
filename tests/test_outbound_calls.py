"""Nothing leaves the machine: a job against the stand-ins calls only the stand-ins.

A 2-host job runs with the outbound-call guard (``support.outbound``) in each host process:
every connect it made goes to the stand-ins, nothing was refused, and every request connector
5.x's core logged (``outbound HTTP call ... host=``) names the stand-in's host. The job's
environment points every AWS client at moto (STS included), and the guard itself refuses a
call off the machine before any packet is sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
import snowflake.connector
from offline_env import AWS_ENDPOINT_VARIABLES
from support.outbound import (
    connector_calls,
    guard_environment,
    guarded_calls,
    on_this_machine,
    refused_calls,
)

pytestmark = pytest.mark.distributed

CONNECTOR_MAJOR = int(snowflake.connector.__version__.split(".")[0])


def test_two_host_job_calls_only_the_stand_ins(jobs, standins, housing_params, tmp_path: Path):
    log = tmp_path / "calls.jsonl"
    run = jobs.run({**housing_params, "num_round": 5}, hosts=2, environ=guard_environment(log))
    assert [h.returncode for h in run.hosts] == [0, 0], run.coordinator.output[-3000:]

    calls = guarded_calls(log)
    assert refused_calls(log) == []
    connects = {(c["host"], c["port"]) for c in calls if c["event"] == "socket.connect"}
    moto = urlparse(standins.secrets_url)
    assert (moto.hostname, moto.port) in connects  # the guard saw the hosts' own calls
    # XGBoost's tracker runs in the processes too: every address they connected to is loopback.
    assert all(on_this_machine(host) for host, _ in connects), connects

    calls = [call for host in run.hosts for call in connector_calls(host.output)]
    assert set(calls) <= {None, "127.0.0.1"}, calls  # None: the session's host, the stand-in
    if CONNECTOR_MAJOR >= 5:  # 5.x's core logs every request it sends (4.x sends through Python)
        assert calls, "no `outbound HTTP call` line: is the connector's log still at INFO?"


def test_job_environment_points_every_aws_client_at_moto(standins, monkeypatch):
    """Every AWS client the job or the connector may build (STS too) is moto; STS answers."""
    for name in AWS_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in standins.job_environ().items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session()
    for service in ("secretsmanager", "sts", "s3", "sagemaker"):
        assert session.client(service).meta.endpoint_url == standins.secrets_url, service
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"].isdigit()


def test_the_guard_refuses_a_call_off_the_machine(tmp_path: Path):
    """A child process with the guard: a lookup and a connect off the machine are refused
    (before any packet is sent) and logged; a loopback connect is let through."""
    log = tmp_path / "calls.jsonl"
    script = (
        "import socket\n"
        "for call in (lambda: socket.getaddrinfo('sts.us-east-1.amazonaws.com', 443),\n"
        "             lambda: socket.socket().connect(('192.0.2.1', 443))):\n"
        "    try:\n"
        "        call()\n"
        "    except OSError as error:\n"
        "        print(type(error).__name__)\n"
        "server = socket.create_server(('127.0.0.1', 0))\n"
        "socket.create_connection(server.getsockname(), timeout=5).close()\n"
    )
    env = {**os.environ, **guard_environment(log)}
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["OutboundCallRefused", "OutboundCallRefused"]
    refused = [(c["event"], c["host"], c["port"]) for c in refused_calls(log)]
    assert refused == [
        ("socket.getaddrinfo", "sts.us-east-1.amazonaws.com", 443),
        ("socket.connect", "192.0.2.1", 443),
    ]
    allowed = [c for c in guarded_calls(log) if not c["refused"]]
    assert [c["host"] for c in allowed] == ["127.0.0.1"]


def test_connector_calls_reads_the_cores_log_lines():
    """The line the issue saw in a 2-host local-mode job (platform detection's STS call), and
    a request to the session's own host as 5.2 logs it."""
    text = (
        "2026-12-01 10:00:01 snowflake.connector._core INFO     outbound HTTP call "
        "method=POST host=sts.us-east-1.amazonaws.com path=/\n"
        "snowflake.connector._core INFO     outbound HTTP call method=POST "
        "path=/session/v1/login-request attempt=1\n"
    )
    assert connector_calls(text) == ["sts.us-east-1.amazonaws.com", None]
