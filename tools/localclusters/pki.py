# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificates of a local cluster: its CA, the API server's serving certificate, the admin and read-only
client certificates, the service-account key, and istiod's serving certificate from a CA of its own."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .common import ISTIO_NAMESPACE, write_private

READONLY_USER = "local-readonly"


def issue(ca_key, ca_cert, common_name: str, groups: list[str], server: bool, *, sans=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    name += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(name))
        .issuer_name(ca_cert.subject if ca_cert is not None else x509.Name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
    )
    # Python 3.13 verifies strictly (RFC 5280): key identifiers are required.
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if ca_cert is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        key_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(key_usage, critical=True)
        return key, builder.sign(key, hashes.SHA256())
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    if server:
        sans = sans or [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem_key(k) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem_cert(c) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def make_pki(d: Path, cluster: str) -> None:
    """CA, serving cert, admin and read-only client certs, SA signing key."""
    make_istiod_pki(d, cluster)
    if (d / "ca.crt").exists():
        return
    d.mkdir(parents=True, exist_ok=True)

    ca_key, ca = issue(None, None, f"meshguard-local-ca-{cluster}", [], False)
    for stem, cn, groups, server in (
        ("serving", "localhost", [], True),
        ("admin", f"admin-{cluster}", ["system:masters"], False),
        ("readonly", READONLY_USER, [], False),
    ):
        key, cert = issue(ca_key, ca, cn, groups, server)
        write_private(d / f"{stem}.key", _pem_key(key))
        (d / f"{stem}.crt").write_bytes(_pem_cert(cert))
    sa = ec.generate_private_key(ec.SECP256R1())
    write_private(d / "sa.key", _pem_key(sa))
    (d / "sa.pub").write_bytes(
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    write_private(d / "ca.key", _pem_key(ca_key))
    (d / "ca.crt").write_bytes(_pem_cert(ca))


def make_istiod_pki(d: Path, cluster: str) -> None:
    """istiod's serving certificate (its webhook and TLS gRPC ports), from a
    CA of its own: the API server checks the webhook against this CA (the
    caBundle), and the name it dials, 127.0.0.1, is in the certificate. The
    DNS name is the one Istio's charts give the Service (istiod.<ns>.svc),
    which istiod also puts in its own certificates (getDNSNames)."""
    if (d / "istiod-ca.crt").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca = issue(None, None, f"meshguard-local-istiod-ca-{cluster}", [], False)
    sans = [x509.DNSName(f"istiod.{ISTIO_NAMESPACE}.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    key, cert = issue(ca_key, ca, f"istiod.{ISTIO_NAMESPACE}.svc", [], True, sans=sans)
    write_private(d / "istiod.key", _pem_key(key))
    (d / "istiod.crt").write_bytes(_pem_cert(cert))
    # The CA's key is not needed again: nothing else is ever signed by it.
    (d / "istiod-ca.crt").write_bytes(_pem_cert(ca))


# --- one cluster ------------------------------------------------------------
