"""Shared fixtures: the Snowflake and Secrets Manager stand-ins, seeded data, and a job runner.

What the fixtures hand out (``StandIns``, ``JobRunner``, key pairs) lives in the ``support``
package; ``tests/`` and ``local_test/`` are on the import path (``pythonpath`` in
pyproject.toml). Everything a fixture starts, it stops; nothing else is touched.

Nothing the tests run may leave this machine: for the whole session the connector's platform
detection and boto3's metadata lookups are off (``offline_env``), and the outbound-call guard
(``support.outbound``) refuses any call off the machine in this process and in every Python
process the tests start; a test during which one was tried fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from offline_env import offline_environment
from seed_standins import create_housing_table
from snowflake_front import FrontControl
from standin_servers import standin_servers
from support.jobs import JobRunner
from support.keys import KeyPair, make_key_pair
from support.outbound import guard_environment, install_guard, refused_calls
from support.standins import (
    HOUSING_TABLE,
    SECRET_ID,
    SNOWFLAKE_SHAPE,
    TEST_PASSWORD,
    TEST_USER,
    StandIns,
)


@pytest.fixture(scope="session", autouse=True)
def outbound_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's outbound-call guard and its log; the offline switches for everything."""
    log = tmp_path_factory.mktemp("outbound") / "calls.jsonl"
    install_guard(log)  # an audit hook stays for the life of the process
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**offline_environment(), **guard_environment(log)}.items():
            patch.setenv(name, value)
        yield log


@pytest.fixture(autouse=True)
def no_outbound_call(outbound_log: Path) -> Iterator[None]:
    """Fails the test during which anything tried to reach beyond this machine."""
    before = len(refused_calls(outbound_log))
    yield
    refused = refused_calls(outbound_log)[before:]
    if refused:
        calls = "\n".join(
            f"  {c['program']} ({c['event']}): {c['host']}:{c['port']}" for c in refused
        )
        pytest.fail(f"calls off this machine, refused by the guard:\n{calls}", pytrace=False)


@pytest.fixture(scope="session")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIns]:
    """fakesnow and moto servers, with the demo table and the test secret in them; results
    served in Snowflake's shape (``SNOWFLAKE_SHAPE``, also what the front's reset restores)."""
    with standin_servers(tmp_path_factory.mktemp("standin-logs"), SNOWFLAKE_SHAPE) as endpoints:
        servers = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        with servers.connect() as connection:
            create_housing_table(connection, HOUSING_TABLE, rows=20640, stand_in=True)
        servers.put_secret(SECRET_ID, {"user": TEST_USER, "password": TEST_PASSWORD})
        yield servers


@pytest.fixture
def front(standins: StandIns) -> Iterator[FrontControl]:
    """The Snowflake stand-in's front, for the test to change; put back to its start after it."""
    with standins.front_settings() as control:
        yield control


@pytest.fixture
def jobs(standins: StandIns, tmp_path: Path) -> JobRunner:
    return JobRunner(standins, tmp_path)


@pytest.fixture
def housing_params() -> dict:
    """A small regression job on the demo table."""
    return {
        "table": HOUSING_TABLE,
        "label": "MEDHOUSEVAL",
        "num_round": 20,
        "max_depth": 5,
        "eta": 0.3,
        "eval_metric": "rmse",
        "validation_fraction": 0.2,
    }


@pytest.fixture(scope="session")
def key_pair() -> KeyPair:
    return make_key_pair()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server (SQLite backend store, artifacts served from a local
    folder) from the stand-ins' environment; its URL."""
    from standin_servers import free_port, serve, standins_bin

    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [
        str(standins_bin() / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    with serve(command, port, root / "server.log", timeout=120):
        yield f"http://127.0.0.1:{port}"
