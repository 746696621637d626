"""Seed a Snowflake endpoint with the demo table and Secrets Manager with its secret.

The original blog trains on scikit-learn's California housing data set, which cannot be
downloaded on machines without internet access. This script generates a table with the same
columns, realistic ranges and a learnable relationship (``--rows``, default 20,640 like the
real one), in any Snowflake endpoint: the local stand-in (fakesnow) or a real account.

    python local_test/seed_standins.py --snowflake-host localhost --snowflake-port 8080 \
        --secrets-endpoint http://localhost:5000 --secret-id snowflake-xgb/demo
"""

from __future__ import annotations

import argparse
import json
import os

import boto3
import snowflake.connector

HOUSING_COLUMNS = (
    "MEDINC", "HOUSEAGE", "AVEROOMS", "AVEBEDRMS", "POPULATION", "AVEOCCUP",
    "LATITUDE", "LONGITUDE", "MEDHOUSEVAL",
)  # fmt: skip

# Generated in SQL, so that millions of rows take seconds instead of hours of row inserts.
# Ranges follow the real data set; the label depends on income, age, rooms and location.
HOUSING_SELECT = """
SELECT medinc, houseage, averooms, avebedrms, population, aveoccup, latitude, longitude,
    LEAST(5.0, GREATEST(0.15,
        0.45 * medinc + 0.01 * houseage - 0.08 * (averooms - 5.4)
        - 0.35 * ABS(latitude - 34.0) - 0.02 * (longitude + 118.0) * (latitude - 35.0)
        + 0.3 * noise - 0.2)) AS medhouseval
FROM (
    SELECT
        ROUND(0.5 + 14.5 * POWER({u1}, 1.8), 4) AS medinc,
        FLOOR(1 + 51 * {u2}) AS houseage,
        ROUND(3.0 + 5.0 * {u3} + 2.9 * POWER({u1}, 1.8), 4) AS averooms,
        ROUND(0.9 + 0.4 * {u4}, 4) AS avebedrms,
        FLOOR(3 + 3500 * POWER({u5}, 1.5)) AS population,
        ROUND(1.5 + 3.5 * {u6}, 4) AS aveoccup,
        ROUND(32.54 + 9.41 * {u7}, 2) AS latitude,
        ROUND(-124.35 + 10.04 * {u8}, 2) AS longitude,
        ({u9} + {u10} + {u11} - 1.5) AS noise
    FROM {rows_source}
) AS generated
"""


def housing_select(rows: int, stand_in: bool) -> str:
    """The generator SELECT in Snowflake's dialect, or DuckDB's for the fakesnow stand-in."""
    if stand_in:  # fakesnow runs on DuckDB and has no GENERATOR table function
        uniforms = {
            f"u{k}": f"((HASH(range * 31 + {k}) % 1000003) / 1000003.0)" for k in range(1, 12)
        }
        return HOUSING_SELECT.format(rows_source=f"range({rows})", **uniforms)
    uniforms = {f"u{k}": f"UNIFORM(0::FLOAT, 1::FLOAT, RANDOM({k}))" for k in range(1, 12)}
    return HOUSING_SELECT.format(rows_source=f"TABLE(GENERATOR(ROWCOUNT => {rows}))", **uniforms)


def create_housing_table(
    connection: snowflake.connector.SnowflakeConnection,
    table: str = "DEMO.PUBLIC.CALIFORNIA_HOUSING",
    rows: int = 20640,
    stand_in: bool = True,
) -> None:
    """(Re)create the demo table with ``rows`` generated rows."""
    database, schema, _ = table.split(".")
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}")
    columns = ", ".join(f"{name} FLOAT" for name in HOUSING_COLUMNS)
    cursor.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")
    cursor.execute(f"INSERT INTO {table} {housing_select(rows, stand_in)}")


def create_secret(secret_id: str, secret: dict, endpoint: str | None) -> None:
    """Create or overwrite the secret (boto3 honours AWS_ENDPOINT_URL_SECRETS_MANAGER too)."""
    client = boto3.client("secretsmanager", endpoint_url=endpoint)
    try:
        client.create_secret(Name=secret_id, SecretString=json.dumps(secret))
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(secret))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snowflake-host", default=os.environ.get("SNOWFLAKE_HOST", "localhost"))
    parser.add_argument(
        "--snowflake-port", type=int, default=int(os.environ.get("SNOWFLAKE_PORT", 8080))
    )
    parser.add_argument(
        "--snowflake-protocol", default=os.environ.get("SNOWFLAKE_PROTOCOL", "http")
    )
    parser.add_argument("--account", default=os.environ.get("SNOWFLAKE_ACCOUNT", "local"))
    parser.add_argument(
        "--secrets-endpoint", default=os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    )
    parser.add_argument("--secret-id", default="snowflake-xgb/demo")
    parser.add_argument("--user", default="demo_user")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--table", default="DEMO.PUBLIC.CALIFORNIA_HOUSING")
    parser.add_argument("--rows", type=int, default=20640)
    parser.add_argument("--real-snowflake", action="store_true", help="use Snowflake's SQL dialect")
    args = parser.parse_args()

    connection = snowflake.connector.connect(
        user=args.user, password=args.password, account=args.account,
        host=args.snowflake_host, port=args.snowflake_port, protocol=args.snowflake_protocol,
        login_timeout=60, network_timeout=120,
    )  # fmt: skip
    with connection:
        create_housing_table(connection, args.table, args.rows, stand_in=not args.real_snowflake)
    create_secret(
        args.secret_id, {"user": args.user, "password": args.password}, args.secrets_endpoint
    )
    print(f"Seeded {args.table} ({args.rows} rows) and secret {args.secret_id}")


if __name__ == "__main__":
    main()
