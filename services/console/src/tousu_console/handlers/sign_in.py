"""Sign-in (OpenID Connect code flow with PKCE), sign-out and the language switch.

The routers only parse the request and turn these answers into redirects and
cookies; the steps and what is stored happen here.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from tousu_common.errors import Unauthenticated
from tousu_common.oidc import TokenVerifier
from tousu_common.signin import AuthorizationRequest, SignInError
from tousu_console.adapters.identity import expires_at
from tousu_console.bootstrap import Console
from tousu_console.domain.i18n import Language
from tousu_console.domain.sessions import Session, local_path, new_session_id, session_key

log = logging.getLogger(__name__)


class StaleSignIn(Exception):
    """The callback's ``state`` is unknown or too old (a replayed or expired flight)."""


class SignInRefused(Exception):
    """The provider or the token check said no."""


@dataclass(frozen=True)
class SignedIn:
    #: the new session's id, for the cookie (only its hash is stored)
    cookie: str
    next_path: str


async def begin(console: Console, next_path: str | None, now: datetime) -> str:
    """Start a sign-in at the provider; the URL to send the browser to.
    Raises ``SignInError`` / ``OSError`` when the provider cannot be reached."""
    redirect_uri = f"{console.settings.public_url}/auth/callback"
    flight = await console.identity.start(redirect_uri)
    await console.sessions.begin_sign_in(
        flight.state,
        flight.nonce,
        flight.code_verifier,
        redirect_uri,
        local_path(next_path),
        now,
    )
    return flight.url


async def finish(
    console: Console, verifier: TokenVerifier, state: str, callback_url: str, now: datetime
) -> SignedIn:
    """The provider sent the browser back: redeem the code, check the token, open
    a session in the person's remembered language."""
    flight = await console.sessions.take_sign_in(state, now)
    if flight is None:
        raise StaleSignIn(state)
    try:
        tokens = await console.identity.finish(
            AuthorizationRequest(
                url="",
                state=flight.state,
                nonce=flight.nonce,
                code_verifier=flight.code_verifier,
                redirect_uri=flight.redirect_uri,
            ),
            callback_url,
        )
        principal = await verifier.verify(tokens.access_token)
    except (SignInError, Unauthenticated) as exc:
        log.warning("sign-in refused: %s", exc)
        raise SignInRefused(str(exc)) from exc
    cookie = new_session_id()
    language = await console.sessions.language_of(principal.subject) or console.default_language
    claims = tokens.id_claims
    await console.sessions.add(
        Session(
            key=session_key(cookie),
            subject=principal.subject,
            name=str(claims.get("name") or claims.get("preferred_username") or principal.subject),
            roles=tuple(sorted(principal.roles)),
            department=principal.department,
            access_token=tokens.access_token,
            access_expires_at=expires_at(tokens.expires_in, now),
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            csrf_token=secrets.token_urlsafe(32),
            language=language,
            created_at=now,
            last_seen_at=now,
        )
    )
    return SignedIn(cookie=cookie, next_path=flight.next_path)


async def sign_out(console: Console, session: Session) -> str:
    """End the session here, then at the provider (RP-initiated logout) when it
    can: the URL to send the browser to."""
    await console.sessions.remove(session.key)
    target = f"{console.settings.public_url}/auth/signed-out"
    try:
        at_provider = await console.identity.logout_url(session.id_token, target)
    except (SignInError, OSError):
        at_provider = None
    return at_provider or "/auth/signed-out"


async def switch_language(
    console: Console, session: Session, language: Language, now: datetime
) -> None:
    """zh ⇄ en, remembered for the person across sessions."""
    await console.sessions.set_language(session, language, now)
