"""The supplier's 8D response link: a token per rectification, and CSRF for its form.

token = HMAC-SHA256(key, "8d-response:" + rectification id), base64url. Nothing
to store, compared in constant time, revoked by rotating the key
(``supplier_link_secret``, by default derived from ``jwt_secret``). The link
stops working ``supplier_link_valid_days_after_due`` days after the due date.

The form is protected by the shared CSRF guard (``tousu_common.webguard``, as
intake's public pages): a random value in a SameSite=Strict cookie, and in the
form an HMAC of it bound to this rectification and an issue time. A page
elsewhere cannot post the form in the supplier's browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, timedelta
from uuid import UUID

from tousu_common.webguard import CsrfGuard
from tousu_rectification.config import Settings

CSRF_MAX_AGE_S = 4 * 3600
CSRF_COOKIE = "tousu_8d_csrf"


def _key(settings: Settings) -> bytes:
    if settings.supplier_link_secret is not None:
        return settings.supplier_link_secret.get_secret_value().encode()
    seed = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(seed, b"tousu supplier link key", hashlib.sha256).digest()


def _sign(settings: Settings, message: str) -> str:
    digest = hmac.new(_key(settings), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def response_token(settings: Settings, rectification_id: UUID) -> str:
    return _sign(settings, f"8d-response:{rectification_id}")


def token_matches(settings: Settings, rectification_id: UUID, token: str) -> bool:
    return hmac.compare_digest(
        response_token(settings, rectification_id).encode(), token.encode("utf-8", "replace")
    )


def response_url(settings: Settings, rectification_id: UUID) -> str:
    base = (settings.public_url or settings.rectification_url).rstrip("/")
    return f"{base}/supplier/8d/{rectification_id}/{response_token(settings, rectification_id)}"


def link_expired(settings: Settings, due_date: date, today: date) -> bool:
    return today > due_date + timedelta(days=settings.supplier_link_valid_days_after_due)


def csrf_guard(settings: Settings) -> CsrfGuard:
    """The same CSRF scheme as intake's public pages, keyed with the link key."""
    return CsrfGuard(secret=_key(settings), max_age_s=CSRF_MAX_AGE_S)


def csrf_purpose(rectification_id: UUID) -> str:
    return f"8d:{rectification_id}"
