"""What keeps the public pages usable by people and costly for bots: intake's
web form and tracking page, rectification's supplier 8D page.

- **CSRF**: a random value in a ``SameSite=Strict``, ``HttpOnly`` cookie, and
  in the form an HMAC of it (with the service secret, a purpose and an issue
  time). A forged cross-site post has neither the cookie nor a way to compute
  the field; tokens expire after the guard's ``max_age_s``.
- **Rate limit**: a token bucket per client address and purpose, in process
  (one replica holds its own buckets; put a proxy limit in front when
  running several). Over the limit → 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request

CSRF_COOKIE = "tousu_csrf"
CSRF_FIELD = "csrf_token"


def _mac(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CsrfGuard:
    secret: bytes
    max_age_s: float

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(24)

    def token(self, cookie_value: str, purpose: str, *, now: float | None = None) -> str:
        issued = str(int(now if now is not None else time.time()))
        return f"{issued}.{_mac(self.secret, 'csrf', purpose, cookie_value, issued)}"

    def valid(
        self, cookie_value: str | None, token: str | None, purpose: str, *, now: float | None = None
    ) -> bool:
        if not cookie_value or not token or "." not in token or len(token) > 200:
            return False
        issued, _, mac = token.partition(".")
        if not issued.isdigit():
            return False
        expected = _mac(self.secret, "csrf", purpose, cookie_value, issued)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return False
        age = (now if now is not None else time.time()) - int(issued)
        return -60 <= age <= self.max_age_s


class RateLimiter:
    """Token buckets keyed by (purpose, client address); least recently used evicted."""

    def __init__(self, *, per_minute: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def take(self, key: tuple[str, str], *, now: float | None = None) -> float:
        """Take one token: 0 if allowed, else seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1 - tokens) / self.rate if self.rate > 0 else 3600.0
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def client_address(request: Request, *, trust_forwarded: bool) -> str:
    """The caller's address; ``X-Forwarded-For`` only when a trusted proxy sets it."""
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first[:100]
    return request.client.host if request.client else "unknown"


def retry_after_header(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
