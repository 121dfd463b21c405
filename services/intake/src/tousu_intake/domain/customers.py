"""The customer register (客户档案): who complains, how to reach them, what they own.

Contacts are kept twice: as given (``display``) and normalised for lookup —
phones and faxes as digits with the country code (``8613800138000``), e-mail
addresses lower-case — so that "+86 138-0013-8000", "13800138000" and
"0086 13800138000" find the same customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from tousu_common.events.catalog import CustomerSegment, CustomerTier
from tousu_common.patterns import EMAIL_PATTERN


class ContactKind(StrEnum):
    phone = "phone"
    email = "email"
    fax = "fax"


_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")


def phone_pattern(country_code: str = "86") -> str:
    """A regular expression for exactly the strings :func:`normalise_phone` accepts
    with a two-digit default ``country_code`` (leading and trailing spaces allowed),
    for the OpenAPI document: a client validating against it agrees with the service."""
    if not (len(country_code) == 2 and country_code.isdigit() and country_code[0] != "0"):
        raise ValueError("phone_pattern knows two-digit country codes only")
    sep = r"[ ()./-]*"

    def digits(low: int, high: int) -> str:
        return f"(?:[0-9]{sep}){{{low},{high}}}"

    def other_than(*excluded: str) -> str:
        return "[" + "".join(d for d in "0123456789" if d not in excluded) + "]"

    first, second = country_code
    branches = [
        rf" *\+{sep}{digits(7, 15)}",  # international, as written
        rf"{sep}0{sep}0{sep}{digits(7, 15)}",  # 00 + international
        rf"{sep}0{sep}{other_than('0')}{sep}{digits(4, 12)}",  # trunk 0: code + the rest
        # no prefix: the code is added unless the number starts with it and is long
        rf"{sep}{first}{sep}{second}{sep}{digits(3, 13)}",
        rf"{sep}{first}{sep}{other_than(second)}{sep}{digits(3, 11)}",
        rf"{sep}{other_than('0', first)}{sep}{digits(4, 12)}",
    ]
    return "^(?:" + "|".join(branches) + ")$"


def normalise_phone(raw: str, default_country_code: str = "86") -> str:
    """Digits with country code, for lookup; ``ValueError`` when it is no number.

    ``+`` or ``00`` mark an international number; a leading ``0`` is the
    national trunk prefix (Chinese landlines, ``010-…``); otherwise the default
    country code is added unless the number already starts with it and is
    longer than a national number (11 digits in China).
    """
    text = raw.strip()
    if not text or not _PHONE_CHARS.match(text):
        raise ValueError("not a phone number (digits, spaces, + - ( ) . / only)")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    elif digits.startswith("0"):
        number = default_country_code + digits[1:]
    elif digits.startswith(default_country_code) and len(digits) > 11:
        number = digits
    else:
        number = default_country_code + digits
    if not 7 <= len(number) <= 15:
        raise ValueError("a phone number has 7 to 15 digits with its country code")
    return number


def normalise_email(raw: str) -> str:
    text = raw.strip().lower()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError("not an e-mail address")
    return text


def normalise_contact(kind: ContactKind, raw: str, default_country_code: str = "86") -> str:
    if kind is ContactKind.email:
        return normalise_email(raw)
    return normalise_phone(raw, default_country_code)


def normalise_serial(raw: str) -> str:
    """Serial numbers compare without surrounding blanks and case-insensitively."""
    return raw.strip().upper()


@dataclass(frozen=True)
class Contact:
    kind: ContactKind
    value: str  # normalised
    display: str  # as given


@dataclass(frozen=True)
class Product:
    serial_number: str
    model: str | None = None


@dataclass
class CustomerRecord:
    """A customer as the register holds it (the API and the import build these)."""

    id: UUID
    name: str
    tier: CustomerTier = CustomerTier.general
    segment: CustomerSegment | None = None
    language: str = "zh"
    external_code: str | None = None
    provisional: bool = False
    contacts: list[Contact] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)

    def first(self, kind: ContactKind) -> str | None:
        return next((c.display for c in self.contacts if c.kind is kind), None)


@dataclass(frozen=True)
class CustomerSummary:
    """A customer without contacts and products: all that filing a complaint needs
    (the complaint keeps the contacts it was given; loading the register's would be
    two more queries per complaint for nothing)."""

    id: UUID
    name: str
    tier: CustomerTier = CustomerTier.general
    segment: CustomerSegment | None = None
    provisional: bool = False


#: Lower number = preferred when one contact matches several customers.
TIER_RANK = {CustomerTier.strategic: 0, CustomerTier.key: 1, CustomerTier.general: 2}


def preference(customer: CustomerRecord | CustomerSummary) -> tuple[bool, int, str]:
    """Sort key when one contact matches several customers: registered before
    provisional, strategic before key before general, then by name."""
    return (customer.provisional, TIER_RANK[customer.tier], customer.name)
