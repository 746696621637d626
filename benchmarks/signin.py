"""Sign-in time with and without the connector's platform detection, on both connector lines.

    make bench-signin                      # or: python benchmarks/signin.py [--sign-ins 5]

Platform detection (both lines, at every sign-in, for Snowflake's telemetry) calls STS
``GetCallerIdentity`` and probes the cloud metadata services. In a SageMaker job with network
isolation, or in a VPC with no route to STS or the internet, those calls go unanswered until
their timeouts. This benchmark rebuilds that here without reaching off the machine: it re-runs
itself in a new network namespace (``unshare -rn``) where loopback works and every other address
is routed into loopback, where packets not for the machine are dropped without an answer
(DNS included), starts the stand-ins
there, and times ``snowflake.connector.connect`` (and close) in fresh processes, as each host
signs in: connector 5.x from this environment, 4.x from the stand-ins' (fakesnow pins it).
Detection on = ``SNOWFLAKE_DISABLE_PLATFORM_DETECTION=false`` with AWS credentials present and
no STS endpoint override (as in a job); off = ``true`` (the image's default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO / "local_test")]

from standin_servers import standin_servers, standins_bin  # noqa: E402

SIGN_IN = """
import json, sys, time
import snowflake.connector
port = int(sys.argv[1])
started = time.perf_counter()
connection = snowflake.connector.connect(
    user="BENCH", password="bench", account="local", host="127.0.0.1", port=port,
    protocol="http", login_timeout=60,
)
signed_in = time.perf_counter() - started
connection.close()
print(json.dumps({"connector": snowflake.connector.__version__, "seconds": signed_in}))
"""


def _namespace_network() -> str:
    """Loopback up, and every other address routed into it, where packets to an address that is
    not the machine's are dropped without an answer (as in a VPC with no route)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "route", "add", "default", "dev", "lo"], check=True)
    return "every address but loopback silently dropped (as a VPC with no route; DNS too)"


def _sign_in_times(python: str, port: int, detection: bool, count: int) -> tuple[str, list]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT_URL", "SNOWFLAKE_", "HTTP_PROXY", "HTTPS_PROXY"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    environ.update(
        SNOWFLAKE_DISABLE_PLATFORM_DETECTION="false" if detection else "true",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    environ.pop("AWS_EC2_METADATA_DISABLED", None)
    times, version = [], "?"
    for _ in range(count):
        done = subprocess.run(
            [python, "-c", SIGN_IN, str(port)],
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise SystemExit(f"sign-in failed ({python}):\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        version = result["connector"]
        times.append(result["seconds"])
    return version, times


def inside(count: int) -> None:
    network = _namespace_network()
    pythons = {"5.x": sys.executable, "4.x": str(standins_bin() / "python")}
    rows = []
    with tempfile.TemporaryDirectory() as work, standin_servers(Path(work)) as endpoints:
        for line, python in pythons.items():
            medians = {}
            for detection in (False, True):
                version, times = _sign_in_times(python, endpoints.snowflake_port, detection, count)
                medians[detection] = statistics.median(times)
            rows.append((line, version, medians[False], medians[True]))
    print(f"network: {network}; median of {count} sign-ins, each in a fresh process")
    print("| connector | detection off (s) | detection on (s) | on / off |")
    print("| --- | ---: | ---: | ---: |")
    for _line, version, off, on in rows:
        print(f"| {version} | {off:.2f} | {on:.2f} | {on / off:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=3, help="sign-ins per case (median)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.sign_ins)
        return
    if not shutil.which("unshare"):
        raise SystemExit("needs unshare (util-linux) for a network namespace")
    command = ["unshare", "-rn", sys.executable, __file__, "--inside", "--sign-ins"]
    sys.exit(subprocess.run([*command, str(args.sign_ins)], timeout=1800).returncode)


if __name__ == "__main__":
    main()
