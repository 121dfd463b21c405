"""The customer's tracking token: derived, never stored in plain text.

The token is ``HMAC-SHA256(secret, "tousu-tracking:" + complaint_id)``, cut to
144 bits and base64url-encoded (24 characters). Because it can be derived
again from the secret, the contact endpoint can put the tracking link in an
e-mail at any time without intake keeping the token itself; the complaint row
keeps only ``sha256(token)`` so that a token can be checked (and a complaint's
token revoked by clearing the hash) without trusting derivation alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote
from uuid import UUID

_LABEL = b"tousu-tracking:"
_TOKEN_BYTES = 18


def tracking_token(secret: str, complaint_id: UUID | str) -> str:
    mac = hmac.new(secret.encode(), _LABEL + str(complaint_id).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_TOKEN_BYTES]).decode().rstrip("=")


def token_hash(token: str) -> str:
    """What the complaint row stores (``tracking_token_hash``)."""
    return hashlib.sha256(token.encode()).hexdigest()


def verify_tracking_token(
    secret: str, complaint_id: UUID | str, token: str, stored_hash: str | None = None
) -> bool:
    """Constant-time check of ``token`` for the complaint; when ``stored_hash`` is
    given (the row's ``tracking_token_hash``) the token must match it too."""
    expected = tracking_token(secret, complaint_id)
    ok = hmac.compare_digest(expected.encode(), token.encode())
    if stored_hash is not None:
        ok = hmac.compare_digest(token_hash(token).encode(), stored_hash.encode()) and ok
    return ok


def tracking_url(public_url: str, reference: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/track/{quote(reference)}?token={quote(token)}"
