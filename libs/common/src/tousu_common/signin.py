"""People sign in: OpenID Connect authorization code + PKCE, and RP-initiated logout.

The relying-party side used by ``tousu login`` (a loopback redirect, RFC 8252)
and by the staff workbench: build the authorization request (``state``,
``nonce``, S256 code challenge — Authlib's implementations), take the redirect
back, exchange the code at the token endpoint, check the ID token (signature by
the provider's JWKS, issuer, audience = our client, nonce), and build the
end-session URL that signs the person out at the provider too.

The access token the provider returns is what the services accept
(:mod:`tousu_common.oidc`); the ID token only tells the client who signed in.
"""

from __future__ import annotations

import contextlib
import threading
import webbrowser
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response, prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

DEFAULT_SCOPE = "openid profile tousu"


class SignInError(Exception):
    """The sign-in did not complete (refused, tampered with, or the provider failed)."""


@dataclass(frozen=True)
class Provider:
    """What the discovery document says (only the parts sign-in needs)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None

    @classmethod
    def discover(cls, issuer: str, *, timeout: float = 5, at: str | None = None) -> Provider:
        """The issuer's metadata, read at ``at`` (its back-channel address, e.g. in
        compose where browsers and containers reach the provider differently)
        when given; the document must still name ``issuer``."""
        url = f"{(at or issuer).rstrip('/')}/.well-known/openid-configuration"
        metadata = httpx.get(url, timeout=timeout).raise_for_status().json()
        if str(metadata.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise SignInError(f"discovery names issuer {metadata.get('issuer')!r}, not {issuer!r}")
        return cls(
            issuer=str(metadata["issuer"]),
            authorization_endpoint=str(metadata["authorization_endpoint"]),
            token_endpoint=str(metadata["token_endpoint"]),
            jwks_uri=str(metadata["jwks_uri"]),
            end_session_endpoint=metadata.get("end_session_endpoint"),
        )


@dataclass(frozen=True)
class AuthorizationRequest:
    """One sign-in in flight: keep it (server-side session, or memory) until the redirect."""

    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    id_claims: dict[str, Any]
    expires_in: int | None
    refresh_token: str | None


def start(
    provider: Provider,
    client_id: str,
    redirect_uri: str,
    *,
    scope: str = DEFAULT_SCOPE,
    resource: str | None = None,
) -> AuthorizationRequest:
    """The URL to send the person's browser to, with fresh state, nonce and PKCE."""
    state, nonce = generate_token(32), generate_token(32)
    verifier = generate_token(64)  # RFC 7636: 43–128 characters
    extra: dict[str, str] = {
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if resource:
        extra["resource"] = resource
    url = prepare_grant_uri(
        provider.authorization_endpoint,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        **extra,
    )
    return AuthorizationRequest(url, state, nonce, verifier, redirect_uri)


def finish(
    provider: Provider,
    client_id: str,
    request: AuthorizationRequest,
    callback_url: str,
    *,
    client_secret: str | None = None,
    resource: str | None = None,
    timeout: float = 10,
) -> Tokens:
    """Take the redirect back (the full callback URL), check ``state``, exchange the code."""
    query = dict(_query(callback_url))
    if "error" in query:
        raise SignInError(f"the provider refused: {query['error']}")
    try:
        params = parse_authorization_code_response(callback_url, state=request.state)
    except Exception as exc:  # authlib raises MismatchingStateException / MissingCodeException
        raise SignInError(f"the redirect is not ours: {type(exc).__name__}") from exc
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.code_verifier,
    }
    if resource:
        form["resource"] = resource
    auth = (client_id, client_secret) if client_secret else None
    if auth is None:
        form["client_id"] = client_id  # a public client (PKCE is its proof)
    response = httpx.post(provider.token_endpoint, data=form, auth=auth, timeout=timeout)
    if response.status_code != 200:
        raise SignInError(f"the token endpoint answered {response.status_code}: {response.text}")
    body = response.json()
    claims = verify_id_token(provider, client_id, str(body["id_token"]), request.nonce)
    return Tokens(
        access_token=str(body["access_token"]),
        id_token=str(body["id_token"]),
        id_claims=claims,
        expires_in=body.get("expires_in"),
        refresh_token=body.get("refresh_token"),
    )


def verify_id_token(provider: Provider, client_id: str, id_token: str, nonce: str) -> dict:
    """Signature (provider's JWKS), issuer, audience = this client, expiry, nonce."""
    try:
        key = jwt.PyJWKClient(provider.jwks_uri, cache_keys=False).get_signing_key_from_jwt(
            id_token
        )
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=["RS256", "PS256", "ES256"],
            audience=client_id,
            issuer=provider.issuer,
            options={"require": ["exp", "iat", "sub", "nonce"]},
        )
    except jwt.PyJWTError as exc:
        raise SignInError(f"the ID token is not valid: {exc}") from exc
    if claims.get("nonce") != nonce:
        raise SignInError("the ID token's nonce is not the one this sign-in sent")
    return claims


def logout_url(
    provider: Provider,
    client_id: str,
    id_token: str,
    post_logout_redirect_uri: str | None = None,
) -> str:
    """RP-initiated logout: where to send the browser to end the provider's session."""
    if not provider.end_session_endpoint:
        raise SignInError("the provider has no end_session_endpoint")
    params = {"id_token_hint": id_token, "client_id": client_id}
    if post_logout_redirect_uri:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
    return f"{provider.end_session_endpoint}?{urlencode(params)}"


def _query(url: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(urlsplit(url).query)


class LoopbackReceiver:
    """A one-shot HTTP listener on 127.0.0.1 for the redirect back (RFC 8252 §7.3)."""

    def __init__(self, ports: tuple[int, ...]) -> None:
        self.callback_url: str | None = None
        self._done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != "/callback":
                    self.send_error(404)
                    return
                receiver.callback_url = f"http://127.0.0.1:{receiver.port}{self.path}"
                body = b"Signed in: you can close this tab and return to the terminal."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                receiver._done.set()

            def log_message(self, *args: Any) -> None:
                pass

        last_error: OSError | None = None
        for port in ports:
            try:
                self.server = HTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError as exc:
                last_error = exc
        else:
            raise SignInError(f"no free loopback port for the redirect: {last_error}")
        self.server.timeout = 0.5  # handle_request() returns, so close() is noticed
        self.port = int(self.server.server_address[1])
        self.redirect_uri = f"http://127.0.0.1:{self.port}/callback"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._done.is_set():
            self.server.handle_request()

    def wait(self, timeout: float) -> str:
        if not self._done.wait(timeout):
            raise SignInError(f"nobody came back to {self.redirect_uri} within {timeout:.0f}s")
        if self.callback_url is None:
            raise RuntimeError("self.callback_url is not set")
        return self.callback_url

    def close(self) -> None:
        self._done.set()
        with contextlib.suppress(Exception):
            self.server.server_close()


def login_with_browser(
    issuer: str,
    client_id: str,
    ports: tuple[int, ...],
    *,
    resource: str | None = None,
    scope: str = DEFAULT_SCOPE,
    timeout: float = 300,
    open_browser: Any = webbrowser.open,
) -> Tokens:
    """``tousu login``: open the browser at the provider, wait for the loopback redirect."""
    provider = Provider.discover(issuer)
    receiver = LoopbackReceiver(ports)
    try:
        request = start(provider, client_id, receiver.redirect_uri, scope=scope, resource=resource)
        open_browser(request.url)
        callback = receiver.wait(timeout)
    finally:
        receiver.close()
    return finish(provider, client_id, request, callback, resource=resource)
