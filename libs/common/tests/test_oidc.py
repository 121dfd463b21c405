"""tousu_common.oidc without a provider process: settings, claim mapping, and what
the verifier does when it has never reached the provider."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from tousu_common.errors import Unauthenticated
from tousu_common.oidc import (
    ClaimMapping,
    JwksCache,
    OidcVerifier,
    SharedSecretVerifier,
    build_verifier,
)
from tousu_common.settings import ServiceSettings

PROD = {
    "jwt_secret": "q" * 40,
    "environment": "prod",
    "database_url": "postgresql+asyncpg://u:p@db/x",
}


def test_prod_refuses_hs256_tokens_with_the_shared_secret() -> None:
    with pytest.raises(ValidationError, match="oidc_issuer"):
        ServiceSettings(**PROD)
    settings = ServiceSettings(**PROD, oidc_issuer="https://sso.example.com/realms/tousu")
    assert isinstance(build_verifier(settings), OidcVerifier)


def test_dev_and_test_keep_the_shared_secret() -> None:
    settings = ServiceSettings(jwt_secret="q" * 40, environment="test")
    assert isinstance(build_verifier(settings), SharedSecretVerifier)


@pytest.mark.parametrize("algorithm", ["none", "HS256", "HS512", "hs256"])
def test_symmetric_and_none_algorithms_cannot_be_configured(algorithm: str) -> None:
    with pytest.raises(ValidationError, match="oidc_algorithms"):
        ServiceSettings(jwt_secret="q" * 40, oidc_issuer="https://i", oidc_algorithms=[algorithm])
    with pytest.raises(ValueError, match="not allowed"):
        OidcVerifier(
            issuer="https://i", audience="a", keys=JwksCache("https://i"), algorithms=[algorithm]
        )


def test_algorithms_and_mapping_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUSU_OIDC_ALGORITHMS", '["ES256"]')
    monkeypatch.setenv("TOUSU_OIDC_ROLE_CLAIMS", '["resource_access.tousu.roles"]')
    monkeypatch.setenv("TOUSU_OIDC_GROUP_ROLES", '{"/Quality": "quality"}')
    settings = ServiceSettings(jwt_secret="q" * 40, oidc_issuer="https://i")
    assert settings.oidc_algorithms == ["ES256"]
    mapping = ClaimMapping.from_settings(settings)
    assert mapping.role_claims == ("resource_access.tousu.roles",)
    assert mapping.group_roles == {"/Quality": "quality"}


KEYCLOAK = {
    "sub": "f3a1",
    "azp": "tousu-workbench",
    "realm_access": {"roles": ["offline_access", "uma_authorization", "quality"]},
    "resource_access": {"tousu": {"roles": ["manager"]}, "account": {"roles": ["view-profile"]}},
    "department": "quality",
}


def test_keycloak_realm_roles_are_read_and_unknown_roles_ignored() -> None:
    principal = ClaimMapping().principal(KEYCLOAK)
    assert principal.roles == {"quality"}
    assert principal.department == "quality"
    assert principal.client_id == "tousu-workbench"


def test_client_roles_are_read_where_configured() -> None:
    mapping = ClaimMapping(role_claims=("realm_access.roles", "resource_access.tousu.roles"))
    assert mapping.principal(KEYCLOAK).roles == {"quality", "manager"}


def test_entra_roles_and_groups_map_to_tousu_roles() -> None:
    entra = {
        "sub": "AAAA",
        "roles": ["csc", "Directory.Reader"],
        "groups": ["8c1e-quality-guid", "unrelated-guid"],
        "extension_department": "csc",
    }
    mapping = ClaimMapping(
        role_claims=("roles",),
        group_roles={"8c1e-quality-guid": "quality", "other": "admin"},
        department_claim="extension_department",
    )
    principal = mapping.principal(entra)
    assert principal.roles == {"csc", "quality"}
    assert principal.department == "csc"


def test_a_department_given_as_a_one_element_list_is_read() -> None:
    principal = ClaimMapping().principal({"sub": "x", "department": ["logistics"]})
    assert principal.department == "logistics"
    assert ClaimMapping().principal({"sub": "x", "department": 7}).department is None


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_keys_never_loaded_means_not_ready_and_every_token_is_refused() -> None:
    issuer = f"http://127.0.0.1:{_dead_port()}"
    verifier = OidcVerifier(
        issuer=issuer, audience="tousu", keys=JwksCache(issuer, min_refresh_s=60, timeout_s=1)
    )
    ready, text = await verifier.readiness()
    assert not ready and "no keys loaded" in text and "ConnectError" in text

    header_kid = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"  # {"alg":"RS256","kid":"k1"}
    with pytest.raises(Unauthenticated, match="does not publish"):
        await verifier.verify(f"{header_kid}.e30.c2ln")
    # The refresh is rate-limited: a burst of unknown key ids tries once, not per token.
    attempt = verifier.keys.last_attempt
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await verifier.verify(f"{header_kid}.e30.c2ln")
    assert verifier.keys.last_attempt == attempt


async def test_garbage_and_symmetric_headers_are_refused_before_any_key_lookup() -> None:
    issuer = f"http://127.0.0.1:{_dead_port()}"
    cache = JwksCache(issuer, timeout_s=1)
    verifier = OidcVerifier(issuer=issuer, audience="tousu", keys=cache)
    with pytest.raises(Unauthenticated, match="not a signed JWT"):
        await verifier.verify("not-a-token")
    hs = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0"  # {"alg":"HS256","kid":"k1"}
    with pytest.raises(Unauthenticated, match="algorithm 'HS256' is not accepted"):
        await verifier.verify(f"{hs}.e30.c2ln")
    assert cache.last_attempt is None  # the provider was not even asked


class _JwksServer:
    """A JWKS endpoint on loopback that counts how often it is asked."""

    def __init__(self, keys: list[dict]) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.keys = keys
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _rsa_jwk(kid: str) -> tuple[object, dict]:
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


async def test_concurrent_first_requests_share_one_key_fetch() -> None:
    import asyncio
    import time

    import jwt

    private, public = _rsa_jwk("k1")
    server = _JwksServer([public])
    try:
        issuer = "https://idp.example"
        verifier = OidcVerifier(
            issuer=issuer,
            audience="tousu",
            keys=JwksCache(issuer, server.url, min_refresh_s=60, timeout_s=2),
        )
        now = int(time.time())
        token = jwt.encode(
            {
                "iss": issuer,
                "aud": "tousu",
                "sub": "u",
                "iat": now,
                "exp": now + 60,
                "roles": ["csc"],
            },
            private,
            algorithm="RS256",
            headers={"kid": "k1"},
        )
        principals = await asyncio.gather(*(verifier.verify(token) for _ in range(10)))
        assert {p.subject for p in principals} == {"u"}
        assert server.hits == 1
        # A burst of unknown key ids does not reach the provider again (rate limit).
        forged = jwt.encode(
            {"iss": issuer, "aud": "tousu", "sub": "u", "iat": now, "exp": now + 60},
            private,
            algorithm="RS256",
            headers={"kid": "k2"},
        )
        for _ in range(5):
            with pytest.raises(Unauthenticated, match="does not publish"):
                await verifier.verify(forged)
        assert server.hits == 1
    finally:
        server.close()


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
async def test_each_allowed_algorithm_verifies_with_its_own_key_type_only(algorithm: str) -> None:
    import json
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    server = _JwksServer([{**public, "kid": "k", "use": "sig"}])
    try:
        issuer = "https://idp.example"
        verifier = OidcVerifier(
            issuer=issuer, audience="tousu", keys=JwksCache(issuer, server.url, timeout_s=2)
        )
        now = int(time.time())
        claims = {"iss": issuer, "aud": "tousu", "sub": "u", "iat": now, "exp": now + 60}
        token = jwt.encode(claims, private, algorithm=algorithm, headers={"kid": "k"})
        assert (await verifier.verify(token)).subject == "u"
        # The same key id claimed with an algorithm of another key type is refused.
        other = "ES256" if algorithm != "ES256" else "RS256"
        other_key = (
            ec.generate_private_key(ec.SECP256R1())
            if other == "ES256"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        confused = jwt.encode(claims, other_key, algorithm=other, headers={"kid": "k"})
        with pytest.raises(Unauthenticated, match="does not match its key"):
            await verifier.verify(confused)
    finally:
        server.close()
