"""The four services trusting only the dev OpenID provider (a real oidc-provider
process): what they refuse, key rotation, the provider going away, and service
identity by client credentials."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tousu_common.devstack import Stack
from tousu_common.oidc_dev import DEV_CLIENT, DevIdentityProvider

from ..conftest import complaint_body, eventually
from .conftest import claims_for, hs256_with, sign_with_provider_key, unsigned

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def complaints_named(stack: Stack, identity: DevIdentityProvider, name: str) -> list[Any]:
    token = identity.test_token("csc-1", ["csc"], "csc")
    response = httpx.get(
        f"{stack.url('intake')}/v1/complaints",
        params={"customer_name": name},
        headers=bearer(token),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _rogue_key() -> tuple[Any, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, "rogue-key"


def forged_tokens(identity: DevIdentityProvider) -> dict[str, str]:
    now = int(time.time())
    key = identity.private_keys()[0]
    kid = key["kid"]
    public_pem = (
        jwt.PyJWK(key)
        .key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    good = sign_with_provider_key(identity, claims_for(identity))
    head, _, signature = good.split(".")
    tampered_claims = claims_for(identity, roles=["admin"], sub="mallory")
    tampered_body = unsigned({}, tampered_claims).split(".")[1]
    rogue, rogue_kid = _rogue_key()
    same_kid_other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "expired": sign_with_provider_key(
            identity, claims_for(identity, iat=now - 7200, exp=now - 3600)
        ),
        "not yet valid": sign_with_provider_key(identity, claims_for(identity, nbf=now + 3600)),
        "wrong issuer": sign_with_provider_key(
            identity, claims_for(identity, iss="https://idp.elsewhere.example")
        ),
        "wrong audience": sign_with_provider_key(identity, claims_for(identity, aud="account")),
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": kid}, claims_for(identity)),
        "hs256 with the public key": hs256_with(
            public_pem, {"alg": "HS256", "typ": "JWT", "kid": kid}, claims_for(identity)
        ),
        "unknown key": jwt.encode(
            claims_for(identity), rogue, algorithm="RS256", headers={"kid": rogue_kid}
        ),
        "known kid, other key": jwt.encode(
            claims_for(identity), same_kid_other_key, algorithm="RS256", headers={"kid": kid}
        ),
        "tampered payload": f"{head}.{tampered_body}.{signature}",
        "missing sub": sign_with_provider_key(identity, claims_for(identity, sub=None)),
    }


EXPECTED_MESSAGE = {
    "expired": "expired",
    "not yet valid": "not yet valid",
    "wrong issuer": "issuer",
    "wrong audience": "audience",
    "alg none": "algorithm",
    "hs256 with the public key": "algorithm",
    "unknown key": "key",
    "known kid, other key": "signature",
    "tampered payload": "signature",
    "missing sub": "sub",
}


def test_tokens_the_provider_did_not_issue_as_they_are_are_refused_and_change_nothing(
    oidc_stack: Stack, identity: DevIdentityProvider
) -> None:
    name = f"拒绝-{secrets.token_hex(3)}"
    url = f"{oidc_stack.url('intake')}/v1/complaints"
    with httpx.Client(timeout=10) as client:
        for case, token in forged_tokens(identity).items():
            response = client.post(
                url, json=complaint_body(customer_name=name), headers=bearer(token)
            )
            assert response.status_code == 401, (case, response.text)
            error = response.json()["error"]
            assert error["code"] == "not_authenticated", case
            assert EXPECTED_MESSAGE[case] in error["message"], (case, error["message"])
        assert complaints_named(oidc_stack, identity, name) == []

        # The same request with a token as the provider issues it goes through.
        good = sign_with_provider_key(identity, claims_for(identity))
        created = client.post(url, json=complaint_body(customer_name=name), headers=bearer(good))
        assert created.status_code == 201, created.text
        assert [c["id"] for c in complaints_named(oidc_stack, identity, name)] == [
            created.json()["id"]
        ]


def test_hs256_tokens_minted_with_the_shared_secret_are_refused(oidc_stack: Stack) -> None:
    from tousu_common.auth import mint_token

    token = mint_token(oidc_stack.jwt_secret, subject="dev", roles=["admin"])
    response = httpx.get(f"{oidc_stack.url('routing')}/v1/rules", headers=bearer(token), timeout=10)
    assert response.status_code == 401
    assert "HS256" in response.json()["error"]["message"]


def test_roles_from_the_provider_decide_and_unknown_roles_are_ignored(
    oidc_stack: Stack, identity: DevIdentityProvider
) -> None:
    rules = f"{oidc_stack.url('routing')}/v1/rules"
    admin = identity.test_token("boss", ["admin", "superuser"])
    assert httpx.get(rules, headers=bearer(admin), timeout=10).status_code == 200
    only_unknown = identity.test_token("nobody", ["superuser", "root"])
    refused = httpx.get(rules, headers=bearer(only_unknown), timeout=10)
    assert refused.status_code == 403, refused.text


def test_key_rotation_needs_no_restart_and_a_removed_key_is_refused(
    oidc_stack: Stack, identity: DevIdentityProvider
) -> None:
    pids = {name: process.pid for name, process in oidc_stack.processes.items()}
    url = f"{oidc_stack.url('routing')}/v1/rules"
    before = identity.test_token("admin-1", ["admin"])
    assert httpx.get(url, headers=bearer(before), timeout=10).status_code == 200

    new_kid = identity.rotate()
    after = identity.test_token("admin-1", ["admin"])
    assert jwt.get_unverified_header(after)["kid"] == new_kid

    def accepted(token: str, service: str) -> bool:
        target = f"{oidc_stack.url(service)}/v1/ops/status"
        return httpx.get(target, headers=bearer(token), timeout=10).status_code == 200

    # Every service picks the new key up by itself (an unknown kid refreshes its
    # keys, at most every oidc_jwks_min_refresh_s).
    for service in ("intake", "routing", "rectification", "notify"):
        eventually(lambda service=service: accepted(after, service), timeout=15)
    # The old key is still published: its tokens still work.
    assert accepted(before, "routing")

    identity.retire_old_keys()
    for service in ("intake", "routing", "rectification", "notify"):
        eventually(lambda service=service: not accepted(before, service), timeout=15)
        refused = httpx.get(
            f"{oidc_stack.url(service)}/v1/ops/status", headers=bearer(before), timeout=10
        )
        assert refused.status_code == 401
        assert "does not publish" in refused.json()["error"]["message"]
        assert accepted(after, service)
    assert {name: p.pid for name, p in oidc_stack.processes.items()} == pids
    assert all(p.poll() is None for p in oidc_stack.processes.values())


def test_notify_reads_contacts_with_its_own_client_credentials_and_others_are_refused(
    oidc_stack: Stack, identity: DevIdentityProvider
) -> None:
    agent = identity.test_token("agent-9", ["agent"], "csc")
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{oidc_stack.url('intake')}/v1/complaints",
            json=complaint_body(customer_email="wang@example.com"),
            headers=bearer(agent),
        )
        assert created.status_code == 201, created.text
        complaint_id = created.json()["id"]
        contact = f"{oidc_stack.url('intake')}/v1/complaints/{complaint_id}/contact"

        notify_token = identity.client_credentials_token("tousu-notify")
        assert jwt.decode(notify_token, options={"verify_signature": False})["roles"] == ["service"]
        read = client.get(contact, headers=bearer(notify_token))
        assert read.status_code == 200, read.text
        assert read.json()["customer_name"] == "王建国"

        # routing's client holds the service role too, but is not a contact reader.
        routing_token = identity.client_credentials_token("tousu-routing")
        refused = client.get(contact, headers=bearer(routing_token))
        assert refused.status_code == 403, refused.text
        assert "tousu-routing" in refused.json()["error"]["message"]
        batch = client.post(
            f"{oidc_stack.url('intake')}/v1/complaints/contacts",
            json={"ids": [complaint_id]},
            headers=bearer(routing_token),
        )
        assert batch.status_code == 403

        # A wrong client secret gets no token at all.
        with pytest.raises(httpx.HTTPStatusError):
            identity.client_credentials_token("tousu-notify", "not-the-secret")

        # notify itself, in its own process, fetched its token from the provider
        # and read the contact: the acknowledgement was sent.
        staff = bearer(identity.test_token("csc-1", ["csc"], "csc"))

        def acknowledged() -> dict | None:
            response = client.get(
                f"{oidc_stack.url('notify')}/v1/notifications",
                params={"complaint_id": complaint_id},
                headers=staff,
            )
            if response.status_code != 200:
                return None
            body = response.json()
            items = body if isinstance(body, list) else body.get("items", [])
            return next(
                (
                    item
                    for item in items
                    if item["kind"] == "acknowledgement" and item.get("status") == "sent"
                ),
                None,
            )

        eventually(acknowledged, timeout=60)


def test_the_dev_client_gets_an_all_roles_token_by_client_credentials(
    oidc_stack: Stack, identity: DevIdentityProvider
) -> None:
    token = identity.client_credentials_token(DEV_CLIENT)
    response = httpx.get(f"{oidc_stack.url('routing')}/v1/rules", headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text


def test_with_the_provider_stopped_cached_keys_still_work_and_readiness_says_so(
    oidc_stack: Stack, identity: DevIdentityProvider
) -> None:
    token = identity.test_token("csc-2", ["csc"], "csc")
    url = f"{oidc_stack.url('intake')}/v1/complaints"
    assert httpx.get(url, headers=bearer(token), timeout=10).status_code == 200
    identity.stop()
    try:

        def reported() -> dict | None:
            response = httpx.get(f"{oidc_stack.url('intake')}/readyz", timeout=10)
            text = response.json()["checks"].get("identity_provider", "")
            return response.json() if "unreachable" in text else None

        readiness = eventually(reported, timeout=20)
        # Cached keys: still able to authenticate, so in rotation, but degraded.
        assert readiness["status"] == "degraded"
        assert "cached keys" in readiness["checks"]["identity_provider"]
        # Past the keys' max age, with every refresh failing: requests still pass.
        for _ in range(3):
            response = httpx.get(url, headers=bearer(token), timeout=10)
            assert response.status_code == 200, response.text
            time.sleep(1)
    finally:
        identity.start()
    eventually(
        lambda: (
            httpx.get(f"{oidc_stack.url('intake')}/readyz", timeout=10)
            .json()["checks"]
            .get("identity_provider", "")
            .startswith("ok")
        ),
        timeout=20,
    )
