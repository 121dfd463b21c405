"""Sign-in through an OpenID provider: the dev provider (oidc-provider on Node) as a
process, and the four services as processes trusting only it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_common.oidc_dev import AUDIENCE, DevIdentityProvider, node_binary, provider_installed


def require_provider() -> None:
    if node_binary() is None or not provider_installed():
        pytest.fail("the dev OpenID provider is not installed: run scripts/ensure-oidc-dev.sh")


@pytest.fixture(scope="package")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevIdentityProvider]:
    require_provider()
    state = tmp_path_factory.mktemp("oidc")
    provider = DevIdentityProvider(state, test_issuance=True, log_path=state / "provider.log")
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="package")
def oidc_stack(
    identity: DevIdentityProvider,
    tmp_path_factory: pytest.TempPathFactory,
    mail_sink: MailSink,
) -> Iterator[Stack]:
    running = Stack(
        var_dir=tmp_path_factory.mktemp("oidc-stack"),
        ports={spec.name: free_port() for spec in SERVICES},
        mail_port=mail_sink.port,
        identity=identity,
        extra_env={
            "TOUSU_KAFKA_TOPIC_PARTITIONS": "3",
            # Short enough for rotation and a stopped provider to show within a test.
            "TOUSU_OIDC_JWKS_MIN_REFRESH_S": "0.5",
            "TOUSU_OIDC_JWKS_MAX_AGE_S": "2",
        },
    )
    running.start(timeout=120)
    yield running
    running.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(identity: DevIdentityProvider, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": identity.issuer,
        "aud": AUDIENCE,
        "sub": "agent-7",
        "iat": now,
        "exp": now + 600,
        "roles": ["agent"],
        "department": "csc",
        "client_id": "tousu-workbench",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_with_provider_key(identity: DevIdentityProvider, claims: dict[str, Any]) -> str:
    """Signed with the provider's own current key, exactly as it signs (RS256 + kid)."""
    key = identity.private_keys()[0]
    private = jwt.PyJWK(key).key
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": key["kid"]})


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def hs256_with(key: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """HMAC over the token with ``key`` — the algorithm-confusion attack when ``key``
    is the provider's public key (which anyone can download)."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"
