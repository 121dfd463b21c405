"""Telephone extensions and call events (the screen pop of incoming calls)."""

from __future__ import annotations

import re

#: An internal extension: digits, 2 to 10 of them (``8001``).
EXTENSION_PATTERN = r"^[0-9]{2,10}$"
#: What the phone system may send as a caller's number: digits, spaces, + - ( ).
CALLER_PATTERN = r"^\+?[0-9 ()\-]{3,30}$"
CALL_STATES = ("ringing", "answered", "hung_up")


def parse_extension(value: str | None) -> str | None:
    """A person's extension as typed on /me: ``None`` for empty; ``ValueError`` if invalid."""
    text = (value or "").strip()
    if not text:
        return None
    if not re.fullmatch(EXTENSION_PATTERN, text):
        raise ValueError("an extension is 2 to 10 digits")
    return text


def hide_number(number: str) -> str:
    """A caller's number as it may appear where it is not needed (last 4 digits)."""
    digits = re.sub(r"\D", "", number)
    return f"…{digits[-4:]}" if len(digits) > 4 else "…"
