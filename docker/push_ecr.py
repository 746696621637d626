#!/usr/bin/env python3
"""Push a local image to Amazon ECR (what ``make push`` runs).

Tags ``IMAGE:TAG`` as ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``, creates
the repository when it is missing, logs Docker in to the registry and pushes.

The account comes from ``--account`` or the caller's credentials (STS GetCallerIdentity); the
region from ``--region``, else ``AWS_REGION``/``AWS_DEFAULT_REGION``/the AWS config. Needs boto3
(a dependency of the project) and AWS credentials the usual way (environment, profile, SSO,
instance role). Without credentials it says so and exits with status 3.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys


def fail(msg: str, code: int = 1) -> int:
    print(f"[push] {msg}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", help="local image name, e.g. snowflake-xgb")
    p.add_argument("--tag", default="latest")
    p.add_argument("--repository", help="ECR repository name (default: the image name)")
    p.add_argument("--region", default=None)
    p.add_argument("--account", default=None)
    args = p.parse_args(argv)

    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        return fail("boto3 is not installed: pip install boto3 (or use the project's venv)")

    local = f"{args.image}:{args.tag}"
    if subprocess.run(["docker", "image", "inspect", local], capture_output=True).returncode:
        return fail(f"no local image {local}: run `make build` first")

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.session.Session(region_name=region)
    region = session.region_name
    if not region:
        return fail("no AWS region: pass REGION=... (or set AWS_REGION / configure a profile)")

    try:
        if session.get_credentials() is None:
            raise NoCredentialsError()
        account = args.account or session.client("sts").get_caller_identity()["Account"]
        ecr = session.client("ecr")
        repository = args.repository or args.image
        try:
            ecr.describe_repositories(repositoryNames=[repository])
        except ecr.exceptions.RepositoryNotFoundException:
            print(f"[push] creating ECR repository {repository} in {region}", file=sys.stderr)
            ecr.create_repository(
                repositoryName=repository,
                imageScanningConfiguration={"scanOnPush": True},
            )
        auth = ecr.get_authorization_token()["authorizationData"][0]
    except NoCredentialsError:
        return fail(
            "no AWS credentials found: `make push` needs credentials allowed to use ECR "
            "(aws configure / aws sso login / AWS_PROFILE / AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY)",
            3,
        )
    except (ClientError, BotoCoreError) as e:
        return fail(f"AWS call failed: {e}")

    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    registry = auth["proxyEndpoint"].removeprefix("https://")
    remote = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{args.tag}"
    login = subprocess.run(
        ["docker", "login", "--username", user, "--password-stdin", registry],
        input=password.encode(),
        capture_output=True,
    )
    if login.returncode:
        return fail(f"docker login to {registry} failed: {login.stderr.decode().strip()}")
    for cmd in (["docker", "tag", local, remote], ["docker", "push", remote]):
        if subprocess.run(cmd).returncode:
            return fail(f"failed: {' '.join(cmd)}")
    print(remote)
    return 0


if __name__ == "__main__":
    sys.exit(main())
