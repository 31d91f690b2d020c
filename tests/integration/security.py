"""Credentials made in Python for real servers: NKeys, JWTs and .creds, TLS certificates.

Nothing here is a mock: the servers started with these configurations check
every signature and certificate themselves.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import nkeys


def new_seed(prefix: int) -> bytes:
    return nkeys.encode_seed(os.urandom(32), prefix)


def public(seed: bytes) -> str:
    kp = nkeys.from_seed(bytearray(seed))
    try:
        return kp.public_key.decode()
    finally:
        kp.wipe()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer_seed: bytes, subject: str, name: str, nats: dict[str, object]) -> str:
    """A NATS JWT (v2) for ``subject``, signed by ``issuer_seed``."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    claims = {"jti": secrets.token_hex(16).upper(), "iat": int(time.time()),
              "iss": public(issuer_seed), "name": name, "sub": subject,
              "nats": {**nats, "version": 2}}
    body = _b64(json.dumps(claims).encode())
    kp = nkeys.from_seed(bytearray(issuer_seed))
    try:
        sig = kp.sign(f"{header}.{body}".encode())
    finally:
        kp.wipe()
    return f"{header}.{body}.{_b64(sig)}"


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
             "wildcards": True, "conn": -1, "leaf": -1, "mem_storage": -1,
             "disk_storage": -1, "streams": -1, "consumer": -1}


@dataclass
class Operator:
    """An operator, its system account and one JetStream-enabled account."""

    config: str
    account_seed: bytes

    def user_creds(self, path: Path, *, permissions: dict[str, object] | None = None) -> Path:
        seed = new_seed(nkeys.PREFIX_BYTE_USER)
        token = jwt(self.account_seed, public(seed), "eventkit-user",
                    {"type": "user", "subs": -1, "data": -1, "payload": -1,
                     **(permissions or {"pub": {}, "sub": {}})})
        path.write_text(
            "-----BEGIN NATS USER JWT-----\n" + token + "\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            "-----BEGIN USER NKEY SEED-----\n" + seed.decode()
            + "\n------END USER NKEY SEED------\n")
        return path


def operator() -> Operator:
    op = new_seed(nkeys.PREFIX_BYTE_OPERATOR)
    sys_acc = new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
    acc = new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
    op_jwt = jwt(op, public(op), "eventkit-operator",
                 {"type": "operator", "system_account": public(sys_acc)})
    sys_jwt = jwt(op, public(sys_acc), "SYS", {"type": "account", "limits": {
        k: v for k, v in UNLIMITED.items() if k not in (
            "mem_storage", "disk_storage", "streams", "consumer")}})
    acc_jwt = jwt(op, public(acc), "EVENTS", {"type": "account", "limits": UNLIMITED,
                                              "default_permissions": {"pub": {}, "sub": {}}})
    config = (
        f"operator: {op_jwt}\nsystem_account: {public(sys_acc)}\nresolver: MEMORY\n"
        f"resolver_preload: {{\n  {public(sys_acc)}: {sys_jwt}\n  {public(acc)}: {acc_jwt}\n}}\n"
    )
    return Operator(config, acc)


@dataclass
class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def pki(directory: Path, *, server_names: tuple[str, ...] = ("localhost",),
        server_ips: tuple[str, ...] = ("127.0.0.1",)) -> Pki:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(k: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        return path

    def write_cert(c: x509.Certificate, path: Path) -> Path:
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return path

    def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(k.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                             False), critical=True)
                .sign(k, hashes.SHA256()))
        return cert, k

    def leaf(cn: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
             usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> tuple[
                 x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(k.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), k

    ca, ca_key = make_ca("eventkit test CA")
    other, _ = make_ca("some other CA")
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
    srv, srv_key = leaf("nats-server", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH, sans)
    cli, cli_key = leaf("eventkit-client", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return Pki(
        ca=write_cert(ca, directory / "ca.pem"),
        server_cert=write_cert(srv, directory / "server.pem"),
        server_key=write_key(srv_key, directory / "server-key.pem"),
        client_cert=write_cert(cli, directory / "client.pem"),
        client_key=write_key(cli_key, directory / "client-key.pem"),
        other_ca=write_cert(other, directory / "other-ca.pem"),
    )
