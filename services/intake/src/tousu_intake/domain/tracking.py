"""TEMPORARY stand-in for 3A's tracking tokens (removed before merging issue-3)."""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID


def tracking_token(secret: str, complaint_id: UUID) -> str:
    return hmac.new(secret.encode(), f"track|{complaint_id}".encode(), hashlib.sha256).hexdigest()[
        :32
    ]


def verify_tracking_token(secret: str, complaint_id: UUID, token: str) -> bool:
    return hmac.compare_digest(tracking_token(secret, complaint_id).encode(), token.encode())
