"""What a read fax means: the sending machine's header line, the key fields of a
complaint letter, and whether the read is good enough to file (传真识别规则).

Pure functions over text and word confidences — no images, no Tesseract — so
the rules are tested without OCR and calibrated on the fax corpus
(``bench/bench_fax.py``; the figures are in ``bench/RESULTS.md``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
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

#: Labels a complaint letter puts before its key fields (what OCR makes of them too):
#: part number, serial number, phone, amount.
KEY_LABELS: dict[str, re.Pattern[str]] = {
    name: re.compile(label + _GAP, re.I)
    for name, label in {
        "part_number": r"(?:零?件号\s*(?:P\s*[/|\\I1l7]?\s*N\b)?|\bP\s*[/|\\7]\s*N\b)",
        "serial_number": r"(?:序列号\s*(?:S\s*[/|\\I1l7]?\s*N\b)?|\bS\s*[/|\\7]\s*N\b)",
        "phone": r"(?:电话\s*(?:Te[lI1f]\b)?|\bTe[lI1f]\b)",
        "amount": r"(?:金额\s*(?:Amount)?|\bAmount)",
    }.items()
}

#: What follows each label, and the shape of each value: this company's part
#: numbers (``1234-56789-A1``) and serial numbers (``YC2027A01234``), mainland
#: phone numbers, amounts in yuan.
KEY_FIELDS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    name: (re.compile(KEY_LABELS[name].pattern + value, re.I), re.compile(shape))
    for name, value, shape in (
        ("part_number", r"(?P<value>\S+)", r"^\d{4}-\d{5}-[A-Z]\d$"),
        ("serial_number", r"(?P<value>\S+)", r"^[A-Z]{2}\d{4}[A-Z]\d{5}$"),
        (
            "phone",
            r"(?P<value>\+?[\d\s\-().,]{7,24}\d)",
            r"^(?:\+86)?(?:1[3-9]\d{9}|0?\d{2,3}\d{7,8})$",
        ),
        (
            "amount",
            r"(?P<value>(?:RMB|CNY|¥|￥)?\s*[\d,.]+)",
            r"^(?:RMB|CNY|¥|￥)?\d{1,3}(?:,\d{3})*(?:\.\d{2})?$|^(?:RMB|CNY|¥|￥)?\d+(?:\.\d{2})?$",
        ),
    )
}


def key_field_labels(line: str) -> list[tuple[str, int]]:
    """Where a labelled key field's value begins in ``line`` (the offset just past
    its label and colon), for each label found — whatever follows, even a value
    misread beyond its pattern."""
    found = []
    for name, label in KEY_LABELS.items():
        found.extend((name, match.end()) for match in label.finditer(line))
    return sorted(found, key=lambda item: item[1])


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


def _fits(name: str, value: str) -> bool:
    shape = KEY_FIELDS[name][1]
    compact = "".join(value.split())
    return bool(shape.match(compact.upper() if name != "amount" else compact))


_CURRENCY = re.compile(r"^(RMB|CNY|¥|￥)?(\s*)(.*)$", re.S)


def fit_key_field(name: str, value: str) -> str | None:
    """``value`` as its field's shape wants it — as it is if it fits, else with
    lookalike characters put right only where the shape says a digit or a letter
    must stand (``O``↔``0``, ``I``/``l``↔``1``, ``S``↔``5``, ``B``↔``8`` …), or a
    dot between a phone number's groups made a space; None if it cannot fit."""
    value = value.strip()
    if _fits(name, value):
        return value
    if name == "phone":
        fixed = re.sub(r"[.,]", " ", value)
        return fixed if _fits(name, fixed) else None
    if name in _TEMPLATES:
        fitted = _fit("".join(value.split()), _TEMPLATES[name])
        return fitted if fitted is not None and _fits(name, fitted) else None
    if name == "amount":  # after the currency, only digits and separators
        match = _CURRENCY.match(value)
        if match is None:
            raise RuntimeError("match is not set")
        currency, gap, rest = match.groups()
        digits = " ".join("".join(_AS_DIGIT.get(c, c) for c in rest).split())
        if "." not in digits and re.fullmatch(r"[\d, ]*\d[, ]\d{2}", digits):
            digits = digits[:-3] + "." + digits[-2:]  # the cents' dot lost: "75,100 00"
        if digits.count(".") > 1:  # thousands read as dots: "29.250.00"
            whole, cents = digits.rsplit(".", 1)
            digits = whole.replace(".", ",") + "." + cents
        fixed = (currency or "") + gap + digits
        return fixed if _fits(name, fixed) else None
    return None


def correct_key_fields(text: str) -> tuple[str, list[str]]:
    """Key fields that fail their shape only for a lookalike character (``6`` read
    as ``G`` in a part number, a dot between a phone number's groups) put right,
    and what was changed (``"part_number: 4989-92088-AG → 4989-92088-A6"``)."""
    changes: list[str] = []

    def fix(name: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            raw = match.group("value")
            value = raw.rstrip("。.,，;；")
            tail = raw[len(value) :]
            if _fits(name, value):
                return match.group(0)
            fixed = fit_key_field(name, value)
            if fixed is None:
                return match.group(0)
            changes.append(f"{name}: {value} → {fixed}")
            start = match.start("value") - match.start(0)
            return match.group(0)[:start] + fixed + tail

        return replace

    lines = []
    for line in text.splitlines():
        for name, (label, _shape) in KEY_FIELDS.items():
            line = label.sub(fix(name), line)
        lines.append(line)
    return "\n".join(lines), changes


def _key(name: str, value: str) -> str | None:
    fitted = fit_key_field(name, value.rstrip("。.,，;；"))
    return "".join(fitted.split()).upper() if fitted is not None else None


def same_key_value(name: str, first: str, second: str) -> bool:
    """Whether two reads of one key field say the same once put to its shape."""
    key = _key(name, first)
    return key is not None and key == _key(name, second)


def vote_key_value(name: str, first: str, again: list[str]) -> str | None:
    """The value to keep when a key field was read more than once — ``first`` with
    the page, ``again`` on its own crop (the specialist reads: English only, a
    character whitelist, so no Chinese model turning digits into characters).
    Each read is put to the field's shape (:func:`fit_key_field`); a value two
    reads agree on wins; with no majority, the first specialist read that fits,
    else the page's, else any other that fits. None: keep ``first`` as it is
    (it wins, or nothing fits)."""
    reads = [first, *again]
    keys = [_key(name, read) for read in reads]
    counts = Counter(key for key in keys if key is not None)
    if not counts:
        return None
    winner, votes = counts.most_common(1)[0]
    if votes < 2:
        order = [*range(1, min(2, len(reads))), 0, *range(2, len(reads))]
        winner = next(keys[i] for i in order if keys[i] is not None)
    chosen = next(i for i, key in enumerate(keys) if key == winner)
    fitted = fit_key_field(name, reads[chosen].rstrip("。.,，;；"))
    return None if fitted == first.rstrip("。.,，;；").strip() else fitted


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
