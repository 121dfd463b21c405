"""What a read fax means: the sending machine's header line, the key fields of a
complaint letter, and whether the read is good enough to file (传真识别规则).

Pure functions over text and word confidences — no images, no Tesseract — so
the rules are tested without OCR and calibrated on the fax corpus
(``bench/bench_fax.py``; the figures are in ``bench/RESULTS.md``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# ---------------------------------------------------------------- header line

_DATE = (
    r"(?P<date>\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
    r"|[A-Z]{3}[- ]\d{1,2}[- ]\d{4})"
)
# At standard resolution a colon's dots can fall between the scan lines: "10 14".
_WHEN = re.compile(_DATE + r"\s+(?P<time>\d{1,2}[:.\s]?\d{2})(?!\d)", re.I)
_COUNTER = r"[0-9OoDQIlLT]{1,3}"
_PAGE = re.compile(rf"\bP\s*[.:,]?\s*(?P<page>{_COUNTER})\s*[/|]\s*(?P<pages>{_COUNTER})\s*$")
_FROM = re.compile(r"^\W{0,3}(?:FR[O0C]M|TX|FAX)\b\s*[:;：]?\s*", re.I)
_NUMBER = re.compile(r"\+?[0-9OoDQ][0-9OoDQ \-()]{5,22}[0-9OoDQ]$")
_DIGIT_LOOKALIKES = str.maketrans("OoDdQqIlLTit", "000000111111")


@dataclass(frozen=True)
class FaxHeader:
    """The line a fax machine prints on top of every page it sends."""

    line: str
    sender: str | None  # the sending machine's own number, digits only (+862155551234)
    sent_at: str | None  # as printed, e.g. "2027-03-02 10:14" (the machine's clock)
    page: int | None
    pages: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "sender": self.sender,
            "sent_at": self.sent_at,
            "page": self.page,
            "pages": self.pages,
        }


def parse_fax_header(line: str) -> FaxHeader | None:
    """The header, if ``line`` is one: ``FROM: <number> <date> <time> P.001/002`` —
    a line that starts with ``FROM`` (or ``FAX``/``TX``) and a number or a date and
    time, or that has both a date and time and a page counter. Each part is read on
    its own, so a misread part leaves that part empty rather than losing the header."""
    text = " ".join(unicodedata.normalize("NFKC", line).split())
    starts = _FROM.match(text)
    when = _WHEN.search(text)
    counter = _PAGE.search(text)
    number = None
    if starts:  # the number is what stands between FROM and the date
        number = _NUMBER.match(text[starts.end() : when.start() if when else None].strip())
    if not text or not ((starts and (number or when)) or (when and counter)):
        return None
    sender = None
    if number:
        raw = number.group(0)
        digits = "".join(c for c in raw.translate(_DIGIT_LOOKALIKES) if c.isdigit())
        sender = ("+" if raw.startswith("+") else "") + digits
    sent_at = None
    if when:
        time = "".join(c for c in when.group("time") if c.isdigit())
        sent_at = f"{when.group('date')} {time[:-2]}:{time[-2:]}"
    page = pages = None
    if counter:
        first = int(counter.group("page").translate(_DIGIT_LOOKALIKES))
        last = int(counter.group("pages").translate(_DIGIT_LOOKALIKES))
        if 1 <= first <= last:  # a misread counter says nothing
            page, pages = first, last
    return FaxHeader(line=text[:200], sender=sender, sent_at=sent_at, page=page, pages=pages)


def letter_title(text: str, limit: int = 200) -> str:
    """The letter's first line that says something: not a fax header, not a stray
    mark (at least two letters or Chinese characters)."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if parse_fax_header(line) is not None:
            continue
        if sum(1 for c in line if c.isalpha()) >= 2:
            return line[:limit]
    return ""


# ---------------------------------------------------------------- key fields

#: Between a label and its value: a colon, or what OCR makes of one, and specks.
_GAP = r"\s*[:：,.;]?[\s_'\"‘’“”|.,:;-]*"

#: Labels a complaint letter puts before its key fields, and the shape of each value:
#: this company's part numbers (``1234-56789-A1``) and serial numbers
#: (``YC2027A01234``), mainland phone numbers, amounts in yuan.
KEY_FIELDS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "part_number": (
        re.compile(
            r"(?:零?件号\s*(?:P\s*[/|\\I1l]?\s*N\b)?|\bP\s*[/|\\]\s*N\b)"
            + _GAP
            + r"(?P<value>\S+)",
            re.I,
        ),
        re.compile(r"^\d{4}-\d{5}-[A-Z]\d$"),
    ),
    "serial_number": (
        re.compile(
            r"(?:序列号\s*(?:S\s*[/|\\I1l]?\s*N\b)?|\bS\s*[/|\\]\s*N\b)" + _GAP + r"(?P<value>\S+)",
            re.I,
        ),
        re.compile(r"^[A-Z]{2}\d{4}[A-Z]\d{5}$"),
    ),
    "phone": (
        re.compile(
            r"(?:电话\s*(?:Te[lI1f]\b)?|\bTe[lI1f]\b)"
            + _GAP
            + r"(?P<value>\+?[\d\s\-().,]{7,24}\d)",
            re.I,
        ),
        re.compile(r"^(?:\+86)?(?:1[3-9]\d{9}|0?\d{2,3}\d{7,8})$"),
    ),
    "amount": (
        re.compile(
            r"(?:金额\s*(?:Amount)?|\bAmount)" + _GAP + r"(?P<value>(?:RMB|CNY|¥|￥)?\s*[\d,.]+)",
            re.I,
        ),
        re.compile(
            r"^(?:RMB|CNY|¥|￥)?\d{1,3}(?:,\d{3})*(?:\.\d{2})?$|^(?:RMB|CNY|¥|￥)?\d+(?:\.\d{2})?$"
        ),
    ),
}


def key_field_problems(text: str) -> list[str]:
    """Each labelled key field whose value does not have its shape (a misread digit
    or letter), e.g. ``"part_number: 8629-6922Z-E4"``."""
    problems = []
    for line in unicodedata.normalize("NFKC", text).splitlines():
        for name, (label, shape) in KEY_FIELDS.items():
            for match in label.finditer(line):
                value = "".join(match.group("value").rstrip("。.,，;；").split())
                if not shape.match(value.upper() if name != "amount" else value):
                    problems.append(f"{name}: {value[:40]}")
    return problems


#: Where this company's part and serial numbers have digits (D) and letters (A).
_TEMPLATES = {"part_number": "DDDD-DDDDD-AD", "serial_number": "AADDDDADDDDD"}
_AS_DIGIT = dict(zip("OoDQIl|iZzSsGbBg", "0000111122556689", strict=True))
_AS_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}


def _fit(value: str, template: str) -> str | None:
    """``value`` with lookalike characters put right where the template says a digit
    or a letter must stand; None if it cannot fit."""
    if len(value) != len(template):
        return None
    out = []
    for char, kind in zip(value, template, strict=True):
        if kind == "D":
            char = char if char.isdigit() else _AS_DIGIT.get(char, "")
        elif kind == "A":
            char = char.upper() if char.isascii() and char.isalpha() else _AS_LETTER.get(char, "")
        else:
            char = "-" if char in "-–—_~" else ""
        if not char:
            return None
        out.append(char)
    return "".join(out)


def correct_key_fields(text: str) -> tuple[str, list[str]]:
    """Key fields that fail their shape only for a lookalike character (``6`` read
    as ``G`` in a part number, a dot between a phone number's groups) put right,
    and what was changed (``"part_number: 4989-92088-AG → 4989-92088-A6"``)."""
    changes: list[str] = []

    def fix(name: str, shape: re.Pattern[str]) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            raw = match.group("value")
            value = raw.rstrip("。.,，;；")
            tail = raw[len(value) :]
            compact = "".join(value.split())
            if shape.match(compact.upper() if name != "amount" else compact):
                return match.group(0)
            if name == "phone":
                fixed = re.sub(r"[.,]", " ", value)
                if not shape.match("".join(fixed.split())):
                    return match.group(0)
            elif name in _TEMPLATES:
                fitted = _fit(compact, _TEMPLATES[name])
                if fitted is None or not shape.match(fitted):
                    return match.group(0)
                fixed = fitted
            else:
                return match.group(0)
            changes.append(f"{name}: {value} → {fixed}")
            start = match.start("value") - match.start(0)
            return match.group(0)[:start] + fixed + tail

        return replace

    lines = []
    for line in text.splitlines():
        for name, (label, shape) in KEY_FIELDS.items():
            line = label.sub(fix(name, shape), line)
        lines.append(line)
    return "\n".join(lines), changes


# ---------------------------------------------------------------- read quality

#: A word Tesseract is less sure of than this is counted as doubtful.
DOUBTFUL_WORD = 60.0


@dataclass(frozen=True)
class ReadQuality:
    """How good a read is; :meth:`fileable` decides whether it goes through as filed."""

    characters: int
    doubtful_share: float  # characters in words below DOUBTFUL_WORD, as a share
    mean_confidence: float
    field_problems: tuple[str, ...]

    def reasons(self, max_doubtful_share: float, min_characters: int = 10) -> list[str]:
        out = []
        if self.characters < min_characters:
            out.append("no text read")
        elif self.doubtful_share > max_doubtful_share:
            out.append(
                f"{self.doubtful_share:.0%} of the characters read with low confidence "
                f"(more than {max_doubtful_share:.0%})"
            )
        out.extend(f"key field misread: {problem}" for problem in self.field_problems)
        return out


def read_quality(words: list[tuple[str, float]], text: str) -> ReadQuality:
    """From Tesseract's words and their confidences (0–100), and the text whose key
    fields could be misread (OCR'd text, not a PDF's own text layer)."""
    characters = sum(len(word) for word, _ in words)
    doubtful = sum(len(word) for word, conf in words if conf < DOUBTFUL_WORD)
    weighted = sum(len(word) * conf for word, conf in words)
    return ReadQuality(
        characters=characters,
        doubtful_share=doubtful / characters if characters else 1.0,
        mean_confidence=weighted / characters if characters else 0.0,
        field_problems=tuple(key_field_problems(text)),
    )
