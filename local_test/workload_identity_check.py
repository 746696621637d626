"""How the stand-in checks a ``WORKLOAD_IDENTITY`` login, the way Snowflake does for AWS.

The attestation (the login's ``TOKEN``) is base64 JSON of a signed STS ``GetCallerIdentity``
request: url, method and headers. The check decodes it, requires the Snowflake audience header
among the signed headers, executes the request against the STS stand-in (moto) and matches the
caller's ARN against the service users' registered ARNs: account and role name, as Snowflake's
``SHOW USER WORKLOAD IDENTITY AUTHENTICATION METHODS`` lists them (partition, account, role).
Where it is kinder than AWS: moto does not verify SigV4 signatures (see the contract).
Standard library only.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

AUDIENCE = "snowflakecomputing.com"
_STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
_ARN = re.compile(r"<Arn>([^<]+)</Arn>")


class Refused(Exception):
    """The attestation does not sign anyone in; the message is for the stand-in's log only."""


def _role_key(arn: str) -> tuple[str, ...]:
    """(partition, account, role name) of a role or an assumed-role session; else the ARN."""
    if arn.startswith("arn:") and ":sts::" in arn and ":assumed-role/" in arn:
        partition, account, rest = arn.split(":", 2)[1], arn.split(":")[4], arn.split(":", 5)[5]
        return (partition, account, rest.split("/")[1])
    if ":iam::" in arn and ":role/" in arn:
        partition, account = arn.split(":")[1], arn.split(":")[4]
        return (partition, account, arn.rsplit("/", 1)[1])
    return (arn,)


def caller_arn(token: str, sts_url: str, sts_host: str, timeout: float = 10) -> str:
    """Execute the attestation's signed request against STS; the caller's ARN."""
    try:
        request = json.loads(base64.b64decode(token))
        url, method, headers = request["url"], request["method"], dict(request["headers"])
    except (ValueError, KeyError, TypeError) as error:
        raise Refused(f"undecodable attestation ({type(error).__name__})") from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not (_STS_HOST.match(host) or host == sts_host):
        raise Refused(f"attestation is not for STS (host {host})")
    if method != "POST" or parse_qs(parts.query).get("Action") != ["GetCallerIdentity"]:
        raise Refused("attestation is not a GetCallerIdentity request")
    lowered = {key.lower(): value for key, value in headers.items()}
    signed = re.search(r"SignedHeaders=([^,\s]+)", lowered.get("authorization", ""))
    if lowered.get("x-snowflake-audience") != AUDIENCE:
        raise Refused("audience header missing or not snowflakecomputing.com")
    if not signed or "x-snowflake-audience" not in signed.group(1).split(";"):
        raise Refused("audience header is not signed")
    replay = urllib.request.Request(
        f"{sts_url.rstrip('/')}/?{parts.query}", data=b"", method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(replay, timeout=timeout) as response:
            body = response.read().decode()
    except urllib.error.HTTPError as error:
        raise Refused(f"STS refused the signed request ({error.code})") from None
    match = _ARN.search(body)
    if not match:
        raise Refused("STS answered without an ARN")
    return match.group(1)


def matching_user(arn: str, login_name: str | None, registered: dict[str, str]) -> str:
    """The service user the caller signs in as: the named one, if its registered ARN matches."""
    candidates = {user: wanted for user, wanted in registered.items() if wanted}
    if login_name:
        wanted = candidates.get(login_name.upper())
        if wanted is None or _role_key(wanted) != _role_key(arn):
            raise Refused(f"{arn} is not the workload identity of user {login_name}")
        return login_name.upper()
    for user, wanted in candidates.items():
        if _role_key(wanted) == _role_key(arn):
            return user
    raise Refused(f"no user has workload identity {arn}")
