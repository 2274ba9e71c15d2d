"""TLS material for the launchers: PEM files on disk, and a throwaway CA for tests and demos.

A server started by a launcher (Keycloak in production mode) reads a certificate chain and
an unencrypted private key from PEM files (``TlsFiles``). In production they come from the
operator's CA; ``throwaway_ca`` makes a private CA and one server certificate signed by it,
so tests can run real HTTPS on loopback and verify it against that CA, never disabling
verification. The certificates carry the extensions strict X.509 verifiers insist on
(basic constraints, key usage, key identifiers, subject alternative names).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    """A server's certificate chain and private key (PEM), and the CA clients trust.

    ``ca`` is the bundle a client verifies the server against (for ``requests``:
    ``verify=str(ca)``); ``None`` means the system's trust store.
    """

    certificate: Path
    key: Path
    ca: Path | None = None

    @property
    def verify(self) -> str | bool:
        """The ``verify`` argument for ``requests``: the CA bundle, or the system's store."""
        return str(self.ca) if self.ca is not None else True


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CellFed throwaway CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """A CA's (certificates and CRLs) or a server's (digital signatures) key usage."""
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(
    ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime, until: dt.datetime
) -> x509.Certificate:
    ca_name = _name("CellFed throwaway root")
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    names: list[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    until: dt.datetime,
) -> x509.Certificate:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def throwaway_ca(
    directory: Path,
    names: Iterable[str] = ("localhost", "127.0.0.1"),
    days: int = 2,
) -> TlsFiles:
    """A new CA and a server certificate for ``names`` (DNS names or IP addresses).

    Writes ``ca.pem`` (the CA certificate: give it to clients), ``server.pem`` (the
    server certificate followed by the CA's) and ``server-key.pem`` (PKCS#8, mode 0600)
    into ``directory``. The CA's key is never written: nothing else can be signed by it.
    Keys are ECDSA P-256 (quick to make; Java and OpenSSL both accept them).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = list(names)
    if not names:
        raise ValueError("a server certificate needs at least one name")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # clock skew
    until = now + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, now, until)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_certificate(key, names, ca_cert, ca_key, now, until)

    pem = serialization.Encoding.PEM
    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return TlsFiles(certificate=cert_path, key=key_path, ca=ca_path)
