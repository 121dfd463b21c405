"""The console behind compose: the issuer is the browsers' address of the provider
(http://127.0.0.1:8080/... on the host, which inside the container is the container
itself), so the console reads the metadata, exchanges and renews tokens, and fetches
keys at the provider's back-channel address, and still sends browsers to the
public authorization and end-session endpoints.

A real HTTP server plays the provider's back channel; nothing listens at the
public address, so any call the console made there would fail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tousu_common.signin import SignInError
from tousu_console.adapters.identity import Identity
from tousu_console.adapters.live_hub import LiveHub
from tousu_console.bootstrap import build_console
from tousu_console.config import Settings

PUBLIC = "http://127.0.0.1:9/realms/tousu"  # port 9 (discard): nothing answers


class BackChannel:
    def __init__(self, issuer: str = PUBLIC) -> None:
        self.issuer = issuer
        self.token_requests: list[dict[str, list[str]]] = []
        self.spent: set[str] = set()
        self.lock = threading.Lock()
        channel = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != "/realms/tousu/.well-known/openid-configuration":
                    self.send_error(404)
                    return
                self._json(
                    {
                        "issuer": channel.issuer,
                        "authorization_endpoint": f"{PUBLIC}/protocol/openid-connect/auth",
                        # What a provider without dynamic back-channel URLs would say:
                        "token_endpoint": f"{PUBLIC}/protocol/openid-connect/token",
                        "jwks_uri": f"{PUBLIC}/protocol/openid-connect/certs",
                        "end_session_endpoint": f"{PUBLIC}/protocol/openid-connect/logout",
                    }
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                channel.token_requests.append({"path": [self.path], **form})
                # Rotation as Keycloak (revokeRefreshToken) does it: a refresh token
                # works once; "bad" never.
                [token] = form.get("refresh_token", [""])
                with channel.lock:
                    reused = token in channel.spent or token == "bad"
                    channel.spent.add(token)
                    issued = len(channel.spent)
                if reused:
                    data = b'{"error": "invalid_grant"}'
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self._json(
                    {
                        "access_token": f"access-{issued}",
                        "expires_in": 300,
                        "refresh_token": f"{token}-next",
                    }
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realms/tousu"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BackChannel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def renewing_identity(channel: BackChannel) -> Identity:
    return Identity(
        PUBLIC,
        "tousu-workbench",
        discovery_url=channel.url,
        token_url=f"{channel.url}/protocol/openid-connect/token",
    )


@pytest.fixture
def back_channel() -> Iterator[BackChannel]:
    with BackChannel() as channel:
        yield channel


async def test_metadata_tokens_and_keys_through_the_back_channel(back_channel):
    identity = Identity(
        PUBLIC,
        "tousu-workbench",
        scope="openid profile",
        discovery_url=back_channel.url,
        token_url=f"{back_channel.url}/protocol/openid-connect/token",
        jwks_url=f"{back_channel.url}/protocol/openid-connect/certs",
    )
    provider = await identity.provider()
    assert provider.issuer == PUBLIC
    assert provider.token_endpoint == f"{back_channel.url}/protocol/openid-connect/token"
    assert provider.jwks_uri == f"{back_channel.url}/protocol/openid-connect/certs"
    # Browsers still go to the public endpoints.
    assert provider.authorization_endpoint == f"{PUBLIC}/protocol/openid-connect/auth"
    request = await identity.start("http://127.0.0.1:8005/auth/callback")
    sent = urlsplit(request.url)
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == provider.authorization_endpoint
    assert parse_qs(sent.query)["scope"] == ["openid profile"]
    logout = await identity.logout_url("id-token", "http://127.0.0.1:8005/auth/signed-out")
    assert logout and logout.startswith(f"{PUBLIC}/protocol/openid-connect/logout?")

    renewed = await identity.renew("r1")
    assert renewed.access_token == "access-1" and renewed.refresh_token == "r1-next"
    [sent_form] = back_channel.token_requests
    assert sent_form["path"] == ["/realms/tousu/protocol/openid-connect/token"]
    assert sent_form["refresh_token"] == ["r1"] and sent_form["client_id"] == ["tousu-workbench"]


async def test_without_the_back_channel_the_public_address_is_all_there_is(back_channel):
    identity = Identity(PUBLIC, "tousu-workbench", timeout=2)
    with pytest.raises(httpx.HTTPError):
        await identity.provider()
    assert back_channel.token_requests == []


async def test_the_back_channel_must_name_the_configured_issuer():
    with BackChannel(issuer="http://attacker.example/realms/tousu") as channel:
        identity = Identity(PUBLIC, "tousu-workbench", discovery_url=channel.url)
        with pytest.raises(SignInError, match="issuer"):
            await identity.provider()


async def test_settings_reach_the_identity(back_channel):
    settings = Settings(
        jwt_secret="console-identity-test-0123456789abcdef",
        database_url="sqlite+aiosqlite://",
        oidc_issuer=PUBLIC,
        oidc_discovery_url=back_channel.url,
        oidc_token_url=f"{back_channel.url}/protocol/openid-connect/token",
        signin_scope="openid profile",
    )
    console = build_console(settings, db=None, hub=LiveHub())  # type: ignore[arg-type]
    try:
        provider = await console.identity.provider()
        assert provider.token_endpoint.startswith(back_channel.url)
        assert console.identity.scope == "openid profile"
    finally:
        await console.api.close()


async def test_requests_renewing_at_once_share_one_use_of_the_refresh_token(back_channel):
    """The panels of a page reload together when the access token has run out: each
    would spend the same refresh token, and a rotating provider refuses all but the
    first (and the person would be signed out)."""
    import asyncio

    identity = renewing_identity(back_channel)
    answers = await asyncio.gather(*(identity.renew("r1") for _ in range(6)))
    assert {a.access_token for a in answers} == {"access-1"}
    assert {a.refresh_token for a in answers} == {"r1-next"}
    assert len(back_channel.token_requests) == 1
    # A request that read the session before the renewed tokens were saved.
    late = await identity.renew("r1")
    assert late.access_token == "access-1" and len(back_channel.token_requests) == 1
    # The next renewal spends the new token.
    following = await identity.renew("r1-next")
    assert following.access_token == "access-2" and following.refresh_token == "r1-next-next"
    assert len(back_channel.token_requests) == 2


async def test_a_refused_renewal_is_not_remembered(back_channel):
    identity = renewing_identity(back_channel)
    for attempt in (1, 2):
        with pytest.raises(SignInError, match="400"):
            await identity.renew("bad")
        assert len(back_channel.token_requests) == attempt
