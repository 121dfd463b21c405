"""Masking personal data in free text before it leaves a service on a topic.

Customers write their phone numbers, e-mail addresses and ID numbers into the
complaint text, and staff and suppliers copy them into notes; every subscriber
of a topic would get them. :func:`mask_text` hides them in place and leaves the
rest of the text as written (part numbers, serial numbers, order numbers,
amounts, dates, service hotlines):

=====================================  ===================================
as written                             on the topic
=====================================  ===================================
``13812345678``, ``138-1234-5678``     ``138****5678`` (first 3, last 4)
``+86 138 1234 5678``                  ``+86 138****5678``
``021-5555 1234``, ``(0755)8888-1234`` ``021-****1234``, ``(0755)****1234``
                                       (area code and last 4 of the number)
``zhang.san@163.com``                  ``z***@163.com`` (first character, domain)
``11010519491231002X`` (居民身份证)    ``110105********002X`` (birth date hidden)
=====================================  ===================================

- Phone numbers are found and validated by ``phonenumbers`` (Google's
  libphonenumber data: mainland mobile prefixes, area codes and their number
  lengths), as mainland numbers unless written with a ``+``/``00`` country code.
  Only numbers written the way a person writes a phone number count: with a
  country code, a leading ``0`` (area code) or, for mobiles, ``1``. So
  ``PO-2027-000123`` is not read as a Guangzhou number. Service numbers
  (``400``/``800`` hotlines, ``95xxx``) are not personal and stay.
- A landline written without its area code (``8888 1234``) cannot be told from
  an order number and is left alone.
- An 18-digit resident ID number is masked only if its birth date, region and
  ISO 7064 check digit are right (``python-stdnum``), so 18-digit serial and
  order numbers survive. The old 15-digit numbers have no check digit and are
  not masked.
- Full-width digits and signs (``１３８１２３４５６７``, ``＠``, ``－``) are read as
  NFKC reads them; the text around them keeps its full-width characters.
- A masked text is never longer than the original (``max_length`` holds) and
  masking it again changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeVar, get_args

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher, PhoneNumberType
from pydantic import BaseModel, Field
from stdnum.cn import ric

#: JSON-schema extension on every free-text field of an event payload.
FREE_TEXT_KEY = "x-personal-data"
FREE_TEXT_NOTE = "free text: phone numbers, e-mail addresses and ID numbers masked"

# NFKC for the characters the patterns look at, one character for one so that
# positions in the mapped text are positions in the original: the full-width
# ASCII block, the ideographic space, and the dashes people type between digits.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALF_WIDTH.update({0x3000: ord(" "), 0x00A0: ord(" ")})
_HALF_WIDTH.update({ord(dash): ord("-") for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"})

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9][A-Za-z0-9._%+\-]*)"
    r"@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})(?![A-Za-z0-9\-])"
)
_RESIDENT_ID = re.compile(
    r"(?<![0-9A-Za-z])(\d{6}) ?((?:18|19|20)\d{6}) ?(\d{3}[0-9Xx])(?![0-9A-Za-z])"
)
_PERSONAL_TYPES = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.VOIP,
        PhoneNumberType.PAGER,
    }
)
_MAINLAND = 86
M = TypeVar("M", bound=BaseModel)


def mask_text(text: str) -> str:
    """``text`` with every phone number, e-mail address and resident ID number masked."""
    if not text or not any(ch.isdigit() or ch in "@＠" for ch in text):
        return text
    for finder in (_emails, _resident_ids, _phone_numbers):
        mapped = text.translate(_HALF_WIDTH)
        spans = list(finder(mapped))
        for start, end, replacement in reversed(spans):
            text = text[:start] + replacement + text[end:]
    return text


def _emails(mapped: str) -> Iterator[tuple[int, int, str]]:
    for match in _EMAIL.finditer(mapped):
        local, domain = match.group(1), match.group(2)
        if len(local) >= 4:
            hidden = local[0] + "***"
        elif len(local) >= 2:
            hidden = local[0] + "*" * (len(local) - 1)
        else:
            hidden = "*"
        yield match.start(), match.end(), f"{hidden}@{domain}"


def _resident_ids(mapped: str) -> Iterator[tuple[int, int, str]]:
    for match in _RESIDENT_ID.finditer(mapped):
        region, birth, tail = match.groups()
        if ric.is_valid(region + birth + tail.upper()):
            yield match.start(), match.end(), f"{region}{'*' * len(birth)}{tail}"


def _phone_numbers(mapped: str) -> Iterator[tuple[int, int, str]]:
    for match in PhoneNumberMatcher(mapped, "CN", leniency=Leniency.VALID):
        number = match.number
        kind = phonenumbers.number_type(number)
        if kind not in _PERSONAL_TYPES:
            continue  # 400/800 hotlines, premium and shared-cost numbers
        raw = match.raw_string
        international = raw.lstrip("(").startswith(("+", "00"))
        if not international:
            # Written as a person writes a mainland number: 0 + area code, or a mobile.
            first = raw.lstrip("(")[:1]
            if not (first == "0" or (first == "1" and kind is PhoneNumberType.MOBILE)):
                continue
        masked = _mask_number(raw, number, kind)
        if masked is not None:
            yield match.start, match.end, masked


def _mask_number(raw: str, number: Any, kind: PhoneNumberType) -> str | None:
    national = phonenumbers.national_significant_number(number)
    digits = [index for index, ch in enumerate(raw) if ch.isdigit()]
    extension = len(number.extension or "")
    nsn_end = len(digits) - extension
    nsn_start = nsn_end - len(national)
    if nsn_start < 0 or "".join(raw[i] for i in digits[nsn_start:nsn_end]) != national:
        return None  # a form we do not understand: leave it rather than garble it
    keep_visible = 0
    if number.country_code == _MAINLAND and kind is not PhoneNumberType.MOBILE:
        keep_visible = phonenumbers.length_of_geographical_area_code(number)
    if number.country_code == _MAINLAND and kind is PhoneNumberType.MOBILE:
        # 138****5678: the operator prefix and the last four, as Chinese sites show them
        shown = national[:3] + "*" * (len(national) - 7) + national[-4:]
        head = raw[: digits[nsn_start]]
    else:
        # Area code as written (with its parentheses or dash), then the number.
        local = national[keep_visible:]
        shown = "*" * max(len(local) - 4, 0) + local[-4:]
        head = raw[: digits[nsn_start + keep_visible]]
    tail = raw[digits[nsn_end - 1] + 1 :]
    return head + shown + tail


# --- event payloads -----------------------------------------------------------


def free_text(**kwargs: Any) -> Any:
    """``Field(...)`` for a payload field people type into: masked on every topic.

    The mark is a JSON-schema extension, so the published contract says which
    fields are masked and :func:`mask_payload` finds them.
    """
    return Field(json_schema_extra={FREE_TEXT_KEY: FREE_TEXT_NOTE}, **kwargs)


def is_free_text(model: type[BaseModel], name: str) -> bool:
    extra = model.model_fields[name].json_schema_extra
    return isinstance(extra, dict) and FREE_TEXT_KEY in extra


def mask_payload(payload: M) -> M:
    """A copy of ``payload`` with every :func:`free_text` field masked (nested
    models and lists of them too); the payload itself is left as it was."""
    model = type(payload)
    changes: dict[str, Any] = {}
    for name in model.model_fields:
        value = getattr(payload, name)
        if isinstance(value, str) and is_free_text(model, name):
            masked: Any = mask_text(value)
        elif isinstance(value, BaseModel):
            masked = mask_payload(value)
        elif isinstance(value, list) and any(isinstance(item, BaseModel) for item in value):
            masked = [mask_payload(item) if isinstance(item, BaseModel) else item for item in value]
        else:
            continue
        if masked != value:
            changes[name] = masked
    return payload.model_copy(update=changes) if changes else payload


# --- events staged before masking existed ---------------------------------------


def has_free_text(model: type[BaseModel]) -> bool:
    """Whether ``model`` (or a model nested in it) has a :func:`free_text` field."""
    for name, field in model.model_fields.items():
        if is_free_text(model, name):
            return True
        for inner in (field.annotation, *get_args(field.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and has_free_text(inner):
                return True
    return False
