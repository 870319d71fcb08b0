"""Optional TLS and mutual TLS for every gRPC server and channel, from certificate paths in the environment.

    SWARM_TLS_CERT, SWARM_TLS_KEY   this process's certificate chain and key (PEM): servers listen with TLS,
                                    and channels present it as a client certificate (mutual TLS)
    SWARM_TLS_CA                    the CA bundle that signs the peers' certificates: channels verify servers
                                    with it, and servers verify client certificates with it
    SWARM_TLS_CLIENT_AUTH=1         servers require a client certificate signed by SWARM_TLS_CA (mutual TLS)
    SWARM_TLS_SERVER_NAME           the name to verify in server certificates when it differs from the
                                    address host (e.g. certificates for "memory" reached at 10.0.0.5)

Without any of them, everything is plaintext on 127.0.0.1 (the default) as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TlsConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TlsConfig:
    cert: bytes | None = None
    key: bytes | None = None
    ca: bytes | None = None
    client_auth: bool = False
    server_name: str | None = None

    @property
    def server_enabled(self) -> bool:
        return self.cert is not None

    @property
    def client_enabled(self) -> bool:
        return self.ca is not None or self.cert is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TlsConfig:
        def read(name: str) -> bytes | None:
            path = env.get(name, "").strip()
            if not path:
                return None
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise TlsConfigError(f"{name}={path!r}: cannot read it ({exc.strerror})") from None
            if b"-----BEGIN" not in data:
                raise TlsConfigError(f"{name}={path!r}: not a PEM file")
            return data

        cert, key, ca = read("SWARM_TLS_CERT"), read("SWARM_TLS_KEY"), read("SWARM_TLS_CA")
        if (cert is None) != (key is None):
            raise TlsConfigError("SWARM_TLS_CERT and SWARM_TLS_KEY go together: set both or neither")
        client_auth = env.get("SWARM_TLS_CLIENT_AUTH", "").strip().lower() in ("1", "true", "yes")
        if client_auth and (ca is None or cert is None):
            raise TlsConfigError("SWARM_TLS_CLIENT_AUTH=1 needs SWARM_TLS_CA, SWARM_TLS_CERT and SWARM_TLS_KEY")
        return cls(cert, key, ca, client_auth, env.get("SWARM_TLS_SERVER_NAME", "").strip() or None)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        if not self.server_enabled:
            return None
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=self.client_auth
        )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if not self.client_enabled:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


PLAINTEXT = TlsConfig()
