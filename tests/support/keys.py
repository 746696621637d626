"""Key pairs, a passphrase and a token for the tests that sign in by key pair or token and
search every byte a job wrote for them (``KeyPair``, ``make_key_pair``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Credentials for the tests that sign in by key pair or token, and search outputs for them.
PASSPHRASE = "kp-pass-5b2e77c1-LEAKCHECK"
TOKEN = "pat-ver1-3e8d0a6f-LEAKCHECK-9b7c"


@dataclass(frozen=True)
class KeyPair:
    pem: str  # PKCS#8, unencrypted
    encrypted_pem: str  # PKCS#8, encrypted with PASSPHRASE
    rsa_pem: str  # PKCS#1 ("BEGIN RSA PRIVATE KEY"), as openssl genrsa writes it
    body: str  # the base64 body of ``pem`` without armour (AWS Glue's pem_private_key)
    public_pem: str
    fingerprint: str  # what Snowflake shows as RSA_PUBLIC_KEY_FP

    def secret_fragments(self) -> list[bytes]:
        """Pieces that must never appear anywhere: each line of each private key's body."""
        lines = set()
        for pem in (self.pem, self.encrypted_pem, self.rsa_pem):
            lines.update(line for line in pem.splitlines() if line and "-----" not in line)
        return [line.encode() for line in sorted(lines)] + [self.body[:40].encode()]


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    rsa_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    return KeyPair(pem, encrypted, rsa_pem, body, public_pem, fingerprint)
