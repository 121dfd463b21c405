"""What a read fax means: the sending machine's header line, the key fields of a
complaint letter, and whether the read is good enough to file (传真识别规则).

Pure functions over text and word confidences — no images, no Tesseract — so
the rules are tested without OCR and calibrated on the fax corpus
(``bench/bench_fax.py``; the figures are in ``bench/RESULTS.md``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# ---------------------------------------------------------------- header line

_DATE = r"(?P<date>\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|[A-Z]{3}[- ]\d{1,2}[- ]\d{4})"
_TIME = r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)"
_PAGE = r"P\s*[.:]?\s*(?P<page>[0-9OoDQ]{1,3})\s*[/|]\s*(?P<pages>[0-9OoDQ]{1,3})"
_NUMBER = r"(?P<number>\+?[0-9OoDQ][0-9OoDQ \-()]{5,22}[0-9OoDQ])"
_HEADER = re.compile(
    rf"(?:(?:FROM|FR[O0]M|FRCM)\s*[:;：]?\s*{_NUMBER})?.*?{_DATE}\s+{_TIME}.*?(?:{_PAGE})?\s*$",
    re.IGNORECASE,
)
_FROM = re.compile(r"\bFR[O0C]M\b|\bP\s*[.:]?\s*[0-9OoDQ]{1,3}\s*/\s*[0-9OoDQ]{1,3}\s*$", re.I)
_DIGIT_LOOKALIKES = str.maketrans("OoDdQq", "000000")


@dataclass(frozen=True)
class FaxHeader:
    """The line a fax machine prints on top of every page it sends."""

    line: str
    sender: str | None  # the number the sending machine was set up with
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
    """The header, if ``line`` is one: ``FROM: <number> <date> <time> P.001/002``
    (date and time are required, and either ``FROM`` or the page counter)."""
    text = " ".join(unicodedata.normalize("NFKC", line).split())
    if not text or not _FROM.search(text):
        return None
    match = _HEADER.search(text)
    if match is None:
        return None
    number = match.group("number")
    sender = " ".join(number.translate(_DIGIT_LOOKALIKES).split()) if number else None
    page, pages = match.group("page"), match.group("pages")
    if page and pages:
        page, pages = page.translate(_DIGIT_LOOKALIKES), pages.translate(_DIGIT_LOOKALIKES)
        if not 1 <= int(page) <= int(pages):  # a misread counter says nothing
            page = pages = None
    return FaxHeader(
        line=text[:200],
        sender=sender,
        sent_at=f"{match.group('date')} {match.group('time')}",
        page=int(page) if page else None,
        pages=int(pages) if pages else None,
    )


# ---------------------------------------------------------------- key fields

#: Labels a complaint letter puts before its key fields, and the shape of each value.
KEY_FIELDS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "part_number": (
        re.compile(r"(?:零?件号\s*(?:P\s*/\s*N)?|P\s*/\s*N)\s*[:：]?\s*(?P<value>\S+)", re.I),
        re.compile(r"^[A-Z0-9]{2,8}(?:-[A-Z0-9]{1,8}){1,3}$"),
    ),
    "serial_number": (
        re.compile(r"(?:序列号\s*(?:S\s*/\s*N)?|S\s*/\s*N)\s*[:：]?\s*(?P<value>\S+)", re.I),
        re.compile(r"^[A-Z]{1,4}\d{2,6}[A-Z]?\d{3,8}$"),
    ),
    "phone": (
        re.compile(r"(?:电话\s*(?:Tel)?|Tel)\s*[:：]?\s*(?P<value>\+?[\d\s\-()]{7,24}\d)", re.I),
        re.compile(r"^(?:\+86)?(?:1[3-9]\d{9}|0?\d{2,3}\d{7,8})$"),
    ),
    "amount": (
        re.compile(
            r"(?:金额\s*(?:Amount)?|Amount)\s*[:：]?\s*(?P<value>(?:RMB|CNY|¥|￥)?\s*[\d,.]+)", re.I
        ),
        re.compile(r"^(?:RMB|CNY|¥|￥)?\d{1,3}(?:,\d{3})*(?:\.\d{2})?$|^(?:RMB|CNY|¥|￥)?\d+(?:\.\d{2})?$"),
    ),
}


def key_field_problems(text: str) -> list[str]:
    """Each labelled key field whose value does not have its shape (a misread digit
    or letter), e.g. ``"part_number: 8629-6922Z-E4"``."""
    problems = []
    for line in unicodedata.normalize("NFKC", text).splitlines():
        for name, (label, shape) in KEY_FIELDS.items():
            for match in label.finditer(line):
                value = "".join(match.group("value").split()).rstrip("。.,，;；")
                if not shape.match(value.upper() if name != "amount" else value):
                    problems.append(f"{name}: {value[:40]}")
    return problems


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
    """From Tesseract's words and their confidences (0–100) and the text kept."""
    characters = sum(len(word) for word, _ in words)
    doubtful = sum(len(word) for word, conf in words if conf < DOUBTFUL_WORD)
    weighted = sum(len(word) * conf for word, conf in words)
    return ReadQuality(
        characters=characters,
        doubtful_share=doubtful / characters if characters else 1.0,
        mean_confidence=weighted / characters if characters else 0.0,
        field_problems=tuple(key_field_problems(text)),
    )
