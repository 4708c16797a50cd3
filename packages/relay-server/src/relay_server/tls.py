"""The relay's own TLS: a private CA and a server certificate for this host, made by ``init --tls``.

On a LAN there is no public name to get a certificate for, so the relay makes its own CA (an
ECDSA P-256 key, valid ten years, allowed to sign only server certificates directly below it) and
a server certificate signed by it for this host's names and addresses (valid 825 days, the
longest that every TLS client accepts). Clients pin the CA, learning it from a join code (which
carries its fingerprint) or by confirming the fingerprint once; ``serve`` then speaks HTTPS.

Files, in ``<data dir>/tls/``: ``ca.pem`` (public: what clients pin), ``ca-key.pem`` (the CA's
private key: only needed to make a new server certificate), ``server.pem`` (the certificate
followed by the CA's) and ``server-key.pem``. Keys are written ``0600``.

A fingerprint is the SHA-256 of the CA certificate's DER bytes in base32 without padding (52
characters, case-insensitive); join codes carry its first :data:`CODE_FINGERPRINT_CHARS`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from relay_server.config import TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE

CA_KEY_FILE: Final = "ca-key.pem"
CA_DAYS: Final = 3650
SERVER_DAYS: Final = 825
CODE_FINGERPRINT_CHARS: Final = 26
"""130 bits of the fingerprint: what a join code carries (forging a CA to match is hopeless)."""


@dataclass(frozen=True)
class TlsFiles:
    """Where a relay's TLS files are."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / TLS_CA_FILE

    @property
    def ca_key(self) -> Path:
        return self.directory / CA_KEY_FILE

    @property
    def cert(self) -> Path:
        return self.directory / TLS_CERT_FILE

    @property
    def key(self) -> Path:
        return self.directory / TLS_KEY_FILE

    def exist(self) -> bool:
        """Whether the CA, the certificate and its key are all there."""
        return self.ca.is_file() and self.cert.is_file() and self.key.is_file()


def fingerprint(pem: bytes) -> str:
    """The fingerprint of a PEM certificate (see the module docstring)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return base64.b32encode(hashlib.sha256(der).digest()).decode("ascii").rstrip("=")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agent-relay"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _ca(host: str, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"agent-relay CA on {host}")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _server(
    names: list[str],
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    now: datetime.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            alt.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def make_tls(directory: Path, names: list[str]) -> str:
    """Make a new CA and a server certificate for ``names`` (host names and IP addresses) in
    ``directory``; the CA's fingerprint. Existing files are replaced (clients must pin anew)."""
    if not names:
        raise ValueError("a server certificate needs at least one name")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TlsFiles(directory)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca = _ca(names[0], now)
    key, certificate = _server(names, ca_key, ca, now)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    _write(files.ca_key, _key_pem(ca_key), 0o600)
    _write(files.key, _key_pem(key), 0o600)
    _write(files.cert, certificate.public_bytes(serialization.Encoding.PEM) + ca_pem, 0o600)
    _write(files.ca, ca_pem, 0o644)
    return fingerprint(ca_pem)
