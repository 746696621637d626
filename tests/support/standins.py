"""Where the stand-ins listen and how a test or a job reaches them (``StandIns``).

The stand-ins are real servers over HTTP: ``fakesnow -s`` behind our Snowflake-shaped front
(reached by the real Snowflake connector) and ``moto_server`` (reached by real boto3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow as pa
import snowflake.connector
from offline_env import offline_environment
from snowflake_front import FrontControl

HOUSING_TABLE = "DEMO.PUBLIC.CALIFORNIA_HOUSING"
SECRET_ID = "snowflake-xgb/test"
# Distinctive values, so that a leak is found by a plain byte search of everything a job wrote.
TEST_PASSWORD = "pw-7f3c1e9a-LEAKCHECK-d41d8cd9"
TEST_USER = "svc_xgb_test"
REGION = "us-east-1"
# Results as Snowflake serves them, the stand-in's shape for every test: a small first chunk
# inline, then remote chunks of growing (mixed) sizes; RESULT_SCAN answered as a new, reordered
# result and the login's session parameters are the front's own defaults. A test that needs
# results whole sets ``chunk_rows=0`` and says why.
SNOWFLAKE_SHAPE = {"first_chunk_rows": 150, "chunk_rows": 1000, "chunk_growth": 1.5}


@dataclass(frozen=True)
class StandIns:
    """Where the stand-ins listen, and the environment a job needs to use them."""

    snowflake_port: int
    secrets_url: str

    @property
    def front(self) -> FrontControl:
        """The Snowflake stand-in's front: how it serves results, and what it served."""
        return FrontControl(f"http://127.0.0.1:{self.snowflake_port}")

    @contextmanager
    def front_settings(self, **changes: Any) -> Iterator[FrontControl]:
        """The front from its start, with ``changes``, for a block; back to its start after the
        block, however it ended (every test of the session shares this front)."""
        front = self.front
        front.reset()
        if changes:
            front.settings(**changes)
        try:
            yield front
        finally:
            front.reset()

    def job_environ(self, secret_id: str = SECRET_ID) -> dict[str, str]:
        """Settings and credentials for the stand-ins; nothing in the job may leave the machine
        (the connector's platform detection off, every AWS endpoint at moto: ``offline_env``)."""
        return {
            "SNOWFLAKE_SECRET_ID": secret_id,
            "SNOWFLAKE_ACCOUNT": "local",
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": str(self.snowflake_port),
            "SNOWFLAKE_PROTOCOL": "http",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **offline_environment(self.secrets_url),
        }

    def connect(
        self, session_parameters: dict | None = None
    ) -> snowflake.connector.SnowflakeConnection:
        return snowflake.connector.connect(
            user=TEST_USER, password=TEST_PASSWORD, account="local", host="127.0.0.1",
            port=self.snowflake_port, protocol="http", login_timeout=30, network_timeout=120,
            session_parameters=session_parameters or {},
        )  # fmt: skip

    def put_secret(self, secret_id: str, secret: dict | str) -> None:
        client = boto3.client(
            "secretsmanager", endpoint_url=self.secrets_url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        text = secret if isinstance(secret, str) else json.dumps(secret)
        try:
            client.create_secret(Name=secret_id, SecretString=text)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=secret_id, SecretString=text)

    def execute(self, *statements: str) -> list[tuple]:
        with self.connect() as connection:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            return cursor.fetchall()

    def result_by_id(self, query_id: str) -> pa.Table:
        """A query's stored result, read by id as the hosts read it (not a RESULT_SCAN)."""
        with self.connect() as connection:
            cursor = connection.cursor()
            cursor.query_result(query_id)
            return cursor.fetch_arrow_all()
