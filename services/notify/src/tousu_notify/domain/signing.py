"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<body>"`` with the
subscription's secret, sent as ``Tousu-Signature: t=<unix seconds>,v1=<hex>``.

The timestamp is inside the signed text, so a receiver that rejects old
timestamps (five minutes by default) cannot be fooled by a replayed request;
deduplicating on the ``Tousu-Delivery-Id`` header covers a retry that arrives
twice inside that window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Tousu-Signature"
DELIVERY_ID_HEADER = "Tousu-Delivery-Id"
EVENT_TYPE_HEADER = "Tousu-Event-Type"
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    """A fresh per-subscription secret (shown once, when the subscription is created)."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Tousu-Signature`` header value for ``body`` sent at ``timestamp``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class InvalidSignature(ValueError):
    """The signature is missing, malformed, wrong, or too old."""


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a ``Tousu-Signature`` header; return its timestamp or raise InvalidSignature.

    Accepts several ``v1=`` values (sent while a secret is being rotated).
    """
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("signature header lacks t= or v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature("signature timestamp outside the tolerance (replayed or stale)")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise InvalidSignature("signature does not match")
    return timestamp
