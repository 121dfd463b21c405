"""Patterns that mean the same in an OpenAPI document and in the service.

A JSON Schema ``pattern`` is ECMA-262; pydantic checks patterns with Rust's regex;
Python's ``re`` and ``str.strip`` are a third opinion. Their ``\\s`` differ (the
information separators \\x1c-\\x1f and NEL \\x85 are white space to Python only,
\\ufeff to ECMA only), so a field that says "some non-space text" or "no white
space" spells the class out (issue 19: schemathesis found values the document
allowed and the service refused).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

#: White space as Python's ``\\s``, ``str.isspace`` and ``str.strip`` know it.
WHITE_SPACE = r" \t\n\r\f\v\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

#: Somewhere in the value a character that is not white space (unanchored, as a
#: JSON Schema pattern is): what a stripped, non-empty text needs.
NON_SPACE = rf"[^{WHITE_SPACE}]"

#: An e-mail address as the services take it: something@something.something, no
#: white space, one ``@``.
EMAIL_PATTERN = rf"^[^@{WHITE_SPACE}]+@[^@{WHITE_SPACE}]+\.[^@{WHITE_SPACE}]+$"

#: A date-time with its zone as RFC 3339 writes it (the document adds ``format:
#: date-time``, which settles month lengths), narrowed to what Python's
#: ``datetime.fromisoformat`` reads the same way: an upper-case ``T``/``Z``, at
#: most six fractional digits, no leap second.
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date_only(value: Any) -> Any:
    """A date as the document says (``format: date``, a string YYYY-MM-DD): pydantic
    on its own also reads a number as a Unix time and a longer string as a date."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


#: A calendar date that is only ever the string the document describes.
IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]


def _json_integer(value: Any) -> Any:
    """An integer as JSON Schema counts one (``114`` or ``114.0``); pydantic on its
    own also takes ``false`` and ``"114"``, which the document calls invalid."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


#: An integer field that takes exactly what the document's ``integer`` does.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]
