"""Test certificates made with ``cryptography``: a CA, server/client certs, a signing cert."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID



@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both also written as PEM files."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "reginventory tests")])


def _write(cert: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cert_path: Path, key_path: Path) -> KeyPair:
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return KeyPair(cert, key, cert_path, key_path)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object, days: int = 2) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def make_ca(directory: Path, name: str = "ca") -> KeyPair:
    """A self-signed CA (EC P-256, fast to generate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"reginventory test CA {name}")
    cert = (
        _builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(cert, key, directory / f"{name}.crt", directory / f"{name}.key")


def issue_cert(
    ca: KeyPair,
    directory: Path,
    name: str,
    *,
    server: bool = True,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    cert_suffix: str = ".crt",
) -> KeyPair:
    """A leaf cert signed by ``ca``: server (SANs ``hosts``) or client (clientAuth)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name(name), ca.cert.subject, key.public_key())
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False  # type: ignore[arg-type]
    )
    eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if server:
        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    return _write(cert, key, directory / f"{name}{cert_suffix}", directory / f"{name}.key")


def make_signing_cert(directory: Path, name: str = "token-signer") -> KeyPair:
    """A self-signed RSA 2048 certificate for RS256 token signing (the registry's rootcertbundle)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(name)
    cert = (
        _builder(subject, subject, key.public_key(), days=7)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _write(cert, key, directory / f"{name}.crt", directory / f"{name}.key")


def x5c_value(cert: x509.Certificate) -> str:
    """The certificate as standard base64 DER, as used in a JWT ``x5c`` header."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def libtrust_kid(cert: x509.Certificate) -> str:
    """The libtrust key id: first 30 bytes of sha256(DER SPKI), base32, groups of 4 joined by ``:``."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))
