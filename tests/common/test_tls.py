"""gRPC over TLS and mutual TLS, with certificates made for the test (a CA, a server and a client cert)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc import aio

from common.channels import call, open_channel
from common.config import Config, ConfigError
from common.server import start_service
from common.tls import TlsConfig
from services.memory.service import build as build_memory
from swarm.memory.v1 import memory_pb2 as pb
from swarm.memory.v1 import memory_pb2_grpc


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject: str, key, issuer_name: x509.Name | None, issuer_key, *, ca: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _cert("swarm test CA", ca_key, None, ca_key, ca=True)
    files = {"ca": ca.public_bytes(serialization.Encoding.PEM)}
    for who in ("server", "client"):
        k = _key()
        files[f"{who}.crt"] = _cert(who, k, ca.subject, ca_key).public_bytes(serialization.Encoding.PEM)
        files[f"{who}.key"] = _pem_key(k)
    other_key = _key()
    other_ca = _cert("someone else's CA", other_key, None, other_key, ca=True)
    files["other-ca"] = other_ca.public_bytes(serialization.Encoding.PEM)
    paths = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        paths[name] = d / name
    return paths


def tls_env(pki: dict[str, Path], who: str, **extra: str) -> dict[str, str]:
    return {
        "SWARM_TLS_CA": str(pki["ca"]),
        "SWARM_TLS_CERT": str(pki[f"{who}.crt"]),
        "SWARM_TLS_KEY": str(pki[f"{who}.key"]),
        **extra,
    }


async def put_get(target: str, tls: TlsConfig) -> str:
    async with open_channel(target, tls) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        await call(stub.Put, pb.PutRequest(namespace="ns", key="k", value_json='"over tls"'), timeout=5)
        return (await call(stub.Get, pb.GetRequest(namespace="ns", key="k"), timeout=5)).entry.value_json


async def test_mutual_tls_works_and_refuses_strangers(pki: dict[str, Path], tmp_path: Path) -> None:
    server_cfg = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), **tls_env(pki, "server", SWARM_TLS_CLIENT_AUTH="1")})
    service = await start_service(build_memory(server_cfg, data_dir=tmp_path), "127.0.0.1:0", tls=server_cfg.tls)
    target = f"localhost:{service.port}"
    try:
        client = Config.from_env(tls_env(pki, "client")).tls
        assert await put_get(target, client) == '"over tls"'
        # plaintext, a client without a certificate, and a client trusting another CA are all refused
        refused = [
            TlsConfig(),
            Config.from_env({"SWARM_TLS_CA": str(pki["ca"])}).tls,
            Config.from_env({**tls_env(pki, "client"), "SWARM_TLS_CA": str(pki["other-ca"])}).tls,
        ]
        for tls in refused:
            with pytest.raises(Exception) as info:
                await put_get(target, tls)
            assert getattr(info.value, "code", grpc.StatusCode.UNAVAILABLE) == grpc.StatusCode.UNAVAILABLE
    finally:
        await service.stop(1)


async def test_server_tls_without_client_auth(pki: dict[str, Path], tmp_path: Path) -> None:
    server_cfg = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), **tls_env(pki, "server")})
    service = await start_service(build_memory(server_cfg, data_dir=tmp_path), "127.0.0.1:0", tls=server_cfg.tls)
    try:
        only_ca = Config.from_env({"SWARM_TLS_CA": str(pki["ca"])}).tls
        assert await put_get(f"127.0.0.1:{service.port}", only_ca) == '"over tls"'
        async with aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            with pytest.raises(aio.AioRpcError):
                await memory_pb2_grpc.MemoryServiceStub(channel).Get(pb.GetRequest(namespace="ns", key="k"), timeout=3)
    finally:
        await service.stop(1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SWARM_TLS_CERT": "/nonexistent.pem", "SWARM_TLS_KEY": "/nonexistent.key"}, "cannot read it"),
        ({"SWARM_TLS_CLIENT_AUTH": "1"}, "needs SWARM_TLS_CA"),
    ],
)
def test_bad_tls_config_fails_fast(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_cert_without_key_fails_fast(pki: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="go together"):
        Config.from_env({"SWARM_TLS_CERT": str(pki["server.crt"])})
    with pytest.raises(ConfigError, match="not a PEM file"):
        Config.from_env({"SWARM_TLS_CA": __file__})
