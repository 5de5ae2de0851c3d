"""A self-signed certificate for serving HTTPS locally: the TLS tests and the PACT conformance
run (scripts/pact-conformance.py) start `score4climate serve --ssl-keyfile --ssl-certfile` with
one, and give clients the certificate as the authority to trust. Never for a deployment."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificatePair:
    keyfile: Path
    certfile: Path  # also the authority a client trusts (it signs itself)


def self_signed(folder: Path, address: str = "127.0.0.1", days: int = 7) -> CertificatePair:
    """Write `key.pem` and `cert.pem` into `folder`: a P-256 key and a certificate for the IP
    `address` (as subject alternative name), valid from an hour ago for `days` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pair = CertificatePair(folder / "key.pem", folder / "cert.pem")
    pair.keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pair.keyfile.chmod(0o600)
    pair.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair
