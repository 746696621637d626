"""The environment that keeps a process run against the stand-ins from reaching off the machine.

Every process that signs in to the Snowflake stand-in or calls AWS through moto (local mode's
containers, the tests' jobs and the test process itself, the benchmarks, CI) gets these values:

* ``SNOWFLAKE_DISABLE_PLATFORM_DETECTION``: both connector lines (4.8+ and 5.x) otherwise run
  "platform detection" at sign-in, for Snowflake's telemetry: a signed STS
  ``GetCallerIdentity`` and probes of the cloud metadata services (169.254.169.254,
  metadata.google.internal).
* ``AWS_EC2_METADATA_DISABLED``: boto3 never asks the EC2 metadata service for credentials or
  a region (the stand-ins' credentials come from the environment).
* ``MLFLOW_DISABLE_TELEMETRY``: MLflow (3.2+; the job's client and the tests' tracking server)
  otherwise sends usage data to config.mlflow-telemetry.io.
* every AWS service the code or the connector may call at moto: Secrets Manager, STS (workload
  identity sign-in, the connector's platform detection when it is turned on) and, through
  ``AWS_ENDPOINT_URL``, any other service boto3 is asked for.

Standard library only; ``localmode.py`` (the compose files), the tests and the benchmarks
import it from this folder. ``python local_test/offline_env.py --shell`` prints the switches as
``export`` lines (what ``.ci/run`` evaluates).
"""

from __future__ import annotations

import shlex
import sys

# boto3's service-specific endpoint variables; AWS_ENDPOINT_URL catches every other service.
AWS_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_STS",
)


def offline_environment(moto_url: str | None = None) -> dict[str, str]:
    """Platform detection and metadata lookups off; every AWS endpoint at ``moto_url`` if given.

    Without ``moto_url`` (a process that does not call AWS) only the switches are set.
    """
    environment = {
        "SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    if moto_url:
        environment.update(dict.fromkeys(AWS_ENDPOINT_VARIABLES, moto_url))
    return environment


if __name__ == "__main__":
    if sys.argv[1:] != ["--shell"]:
        sys.exit("usage: offline_env.py --shell   (prints the switches as export lines)")
    for name, value in offline_environment().items():
        print(f"export {name}={shlex.quote(value)}")
