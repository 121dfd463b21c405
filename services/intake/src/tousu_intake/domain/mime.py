"""Reading an inbound e-mail: headers, readable text and attachments (pure, no I/O).

Real complaint mail is messy: GBK text labelled ``gb2312``, RFC 2047 words
split in the middle of a two-byte character, HTML-only bodies, Big5 from
Taiwan and Hong Kong, raw 8-bit headers, no charset at all. The stdlib
parser (``policy.default``) silently turns such text into U+FFFD, so this
module parses with ``compat32`` (raw values) and does every decoding itself:

- charset labels go through :func:`codec_for` (gb2312/gbk → gb18030, big5 →
  big5hkscs, …) and unknown or lying labels fall back to UTF-8, then
  GB18030, then Big5;
- encoded words are joined per charset *before* decoding, so a character
  split across two words survives;
- HTML-only mail is turned into text with :mod:`html.parser` (no dependency).

:func:`parse_mail` never raises anything but :class:`MailParseError`.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.utils
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from html.parser import HTMLParser
from pathlib import PurePosixPath, PureWindowsPath

MAX_PARTS = 500
MAX_DEPTH = 20
MAX_TEXT_CHARS = 200_000


class MailParseError(ValueError):
    """The bytes are not a mail we can read (empty, too deeply nested, too many parts)."""


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None
    subject: str
    from_name: str
    from_address: str | None
    to: tuple[str, ...]
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None
    text: str
    attachments: tuple[MailAttachment, ...]
    content_type: str
    #: Every header, name lower-cased, values decoded (first occurrence wins).
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# --- charsets ----------------------------------------------------------------

_ALIASES = {
    # GB2312 and GBK are subsets of GB18030, and mail labelled with them often
    # contains characters only GB18030 has: always decode as GB18030.
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb_2312": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "x-euc-cn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "gb18030": "gb18030",
    # Big5-HKSCS is a superset of Big5 (Hong Kong characters).
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    # Mail labelled ASCII or Latin-1 is very often Windows-1252 in practice.
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}

# Tried in order when a label is missing, unknown or lying.
_FALLBACKS = ("utf-8", "gb18030", "big5hkscs")


def codec_for(label: str | None) -> str | None:
    """The Python codec to decode text labelled ``label`` with, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip('"').lower().split("*", 1)[0]
    name = _ALIASES.get(name, name)
    try:
        import codecs

        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Text from ``data``: the labelled charset if it fits, else the first fallback that
    does, else the labelled (or UTF-8) charset with replacement characters."""
    codec = codec_for(label)
    for candidate in (codec, *_FALLBACKS):
        if candidate is None:
            continue
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError):  # UnicodeError: e.g. Python's "undefined" codec
            continue
    try:
        return data.decode(codec or "utf-8", errors="replace")
    except (UnicodeError, LookupError):
        return data.decode("utf-8", errors="replace")


# --- headers -----------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n[ \t]+")
_MSG_ID = re.compile(r"<[^<>\s]+>")


def _raw_header_text(value: str) -> str:
    """compat32 keeps 8-bit header bytes as surrogates; decode them properly."""
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real text
    return decode_bytes(raw)


def _word_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        padded = payload + "=" * (-len(payload) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def decode_header_value(value: str | None) -> str:
    """An RFC 2047 header value as text (adjacent words of one charset joined first)."""
    if not value:
        return ""
    text = _FOLD.sub(" ", _raw_header_text(str(value))).replace("\r", "").replace("\n", "")
    pieces: list[tuple[bytes | str, str | None]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        # Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
        if between and not (between.isspace() and pieces and pieces[-1][1] is not None):
            pieces.append((between, None))
        charset, encoding, payload = match.groups()
        data = _word_bytes(encoding, payload)
        if pieces and pieces[-1][1] == charset.lower() and isinstance(pieces[-1][0], bytes):
            pieces[-1] = (pieces[-1][0] + data, charset.lower())
        else:
            pieces.append((data, charset.lower()))
        position = match.end()
    pieces.append((text[position:], None))
    out = []
    for piece, charset in pieces:
        out.append(decode_bytes(piece, charset) if isinstance(piece, bytes) else piece)
    return "".join(out).strip()


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every ``<id>`` in a Message-ID / In-Reply-To / References header, in order."""
    if not value:
        return ()
    return tuple(dict.fromkeys(_MSG_ID.findall(_FOLD.sub(" ", str(value)))))


def _address(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    pairs = email.utils.getaddresses([_FOLD.sub(" ", _raw_header_text(str(value)))])
    for name, address in pairs:
        if "@" in address:
            return decode_header_value(name), address.strip().lower()
    return decode_header_value(value), None


def _addresses(values: Iterable[str]) -> tuple[str, ...]:
    pairs = email.utils.getaddresses([_FOLD.sub(" ", _raw_header_text(str(v))) for v in values])
    return tuple(address.strip().lower() for _, address in pairs if "@" in address)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


# --- HTML → text -------------------------------------------------------------

_BLOCKS = {
    "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "ul", "ol", "blockquote", "pre", "hr", "section", "article",
    "header", "footer", "address", "dd", "dt",
}  # fmt: skip
_SKIP = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "pre":
            self.pre += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIP:
            self.skipping -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skipping:
            self.skipping -= 1
        elif tag == "pre" and self.pre:
            self.pre -= 1
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body: blocks become lines, scripts and styles go."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # html.parser on pathological markup
        pass
    lines = [line.strip() for line in "".join(extractor.parts).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- bodies ------------------------------------------------------------------


def _payload_bytes(part: Message) -> bytes:
    """The decoded body (base64 / quoted-printable / 8bit), tolerant of broken encodings."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


def _part_text(part: Message) -> str:
    text = decode_bytes(_payload_bytes(part), part.get_content_charset())
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (LookupError, ValueError, TypeError):
        name = None
    if name is None:
        name = part.get_param("name")  # old clients put it on Content-Type only
        if isinstance(name, tuple):  # RFC 2231: (charset, language, value)
            name = email.utils.collapse_rfc2231_value(name)
    if not name or not isinstance(name, str):
        return None
    decoded = decode_header_value(name)
    base = PureWindowsPath(PurePosixPath(decoded).name).name
    base = "".join(ch for ch in base if ch.isprintable()).strip(" .")
    return base[:200] or None


class _Walker:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.attachments: list[MailAttachment] = []
        self.parts = 0

    def walk(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise MailParseError(f"more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise MailParseError(f"MIME parts nested deeper than {MAX_DEPTH}")
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part)
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if content_type == "multipart/alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        is_text = content_type in ("text/plain", "text/html")
        if is_text and disposition != "attachment" and filename is None:
            text = _part_text(part)
            if text:
                self.texts.append(text)
            return
        data = _payload_bytes(part)
        if content_type == "message/rfc822" and isinstance(part.get_payload(), list):
            inner = part.get_payload()[0]
            data = inner.as_bytes() if isinstance(inner, Message) else data
        if not data:
            return
        extension = {"message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html"}
        name = (
            filename or f"attachment-{len(self.attachments) + 1}{extension.get(content_type, '')}"
        )
        self.attachments.append(MailAttachment(name, content_type, data))

    def _alternative(self, children: list[Message], depth: int) -> None:
        """Prefer the plain-text version; fall back to the richest readable one."""
        ranked = sorted(children, key=lambda c: 0 if c.get_content_type() == "text/plain" else 1)
        for child in ranked:
            probe = _Walker()
            probe.parts = self.parts
            probe.walk(child, depth + 1)
            self.parts = probe.parts
            if probe.texts:
                self.texts.extend(probe.texts)
                self.attachments.extend(probe.attachments)
                return
        for child in children:  # nothing readable: keep whatever files they carry
            self.walk(child, depth + 1)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse raw RFC 5322 bytes; raises only :class:`MailParseError`."""
    if not raw or not raw.strip():
        raise MailParseError("the message is empty")
    try:
        return _parse(raw)
    except MailParseError:
        raise
    except (ValueError, LookupError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise MailParseError(f"unreadable message: {type(exc).__name__}") from exc
    except RecursionError as exc:
        raise MailParseError("MIME structure too deep") from exc


def _parse(raw: bytes) -> ParsedMail:
    message = email.message_from_bytes(raw, policy=policy.compat32)
    # raw_items() gives the header values as they were (8-bit bytes as surrogates);
    # message.get() would wrap those in Header objects that lose them.
    raw_headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        raw_headers.setdefault(str(name).lower(), []).append(str(value))

    def first(name: str) -> str | None:
        values = raw_headers.get(name)
        return values[0] if values else None

    headers = {name: decode_header_value(values[0]) for name, values in raw_headers.items()}
    walker = _Walker()
    walker.walk(message)
    from_name, from_address = _address(first("from"))
    message_id = message_ids(first("message-id"))
    text = "\n\n".join(walker.texts)[:MAX_TEXT_CHARS]
    return ParsedMail(
        message_id=message_id[0] if message_id else None,
        subject=decode_header_value(first("subject"))[:998],
        from_name=from_name,
        from_address=from_address,
        to=_addresses([*raw_headers.get("to", []), *raw_headers.get("cc", [])]),
        in_reply_to=message_ids(first("in-reply-to")),
        references=message_ids(" ".join(raw_headers.get("references", []))),
        date=_date(first("date")),
        text=text,
        attachments=tuple(walker.attachments),
        content_type=message.get_content_type(),
        headers=headers,
    )
