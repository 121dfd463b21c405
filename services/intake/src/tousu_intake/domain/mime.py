"""Reading an inbound e-mail: headers, readable text and attachments (pure, no I/O).

Real complaint mail is messy: GBK text labelled ``gb2312``, RFC 2047 words
split in the middle of a two-byte character, HTML-only bodies, Big5 from
Taiwan and Hong Kong, raw 8-bit headers and file names with no charset at
all, parts labelled ``us-ascii`` or with a made-up charset, RFC 2231 file
names, multiparts that lost their boundary, Outlook's ``winmail.dat``. The
stdlib parser (``policy.default``) silently turns such text into U+FFFD, so
this module parses with ``compat32`` (raw values) and does every decoding
itself:

- a charset label that is known and decodes the bytes is believed (gb2312/gbk
  → gb18030, big5 → big5hkscs, …) unless another reading is clearly better:
  GB18030, Big5 and Windows-1252 read foreign bytes without an error, so under
  those labels valid UTF-8 and the other Chinese charset are checked; a
  missing, ``us-ascii``, unknown or lying label goes to :func:`detect_charset`
  — UTF-8 if the bytes are valid UTF-8, else charset-normalizer's least
  chaotic reading among GB18030, Big5-HKSCS and Windows-1252 (the mail Tousu
  receives);
- raw 8-bit header bytes (and file names) are read in the charset of the
  mail's own text if they fit it, else detected from all of them together —
  a two-character name alone is too short to tell GBK from Big5;
- encoded words are joined per charset *before* decoding, so a character
  split across two words survives;
- RFC 2231 parameters (``filename*=``, quoted or not, continued or not) are
  read from the raw header, and win over a plain ``filename=``;
- a multipart without a usable boundary is re-read with the boundary its
  body shows; a body with none is kept as text;
- TNEF (``winmail.dat``) is opened with tnefparse and the files inside
  become attachments; one that cannot be read is kept as it is;
- HTML-only mail is turned into text with :mod:`html.parser` (no dependency).

:func:`parse_mail` never raises anything but :class:`MailParseError`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
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

from charset_normalizer import from_bytes
from tnefparse import TNEF
from tnefparse import properties as tnef_properties

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
    # Mail labelled Latin-1 is very often Windows-1252 in practice.
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    # UTF-7 under the names Microsoft and old Netscape mailers gave it.
    "unicode-1-1-utf-7": "utf-7",
    "unicode-2-0-utf-7": "utf-7",
    "x-unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "x-utf-7": "utf-7",
    "csunicode11utf7": "utf-7",
    "utf8": "utf-8",
}

#: Labels that say nothing about 8-bit bytes: ``us-ascii`` cannot hold them, the
#: others are what mailers write when they do not know.
_UNINFORMATIVE = {
    "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "646", "unknown-8bit",
    "x-unknown", "unknown", "default", "x-user-defined", "none", "charset",
}  # fmt: skip

#: Single-byte Western codecs decode any bytes at all: on 8-bit text they are
#: checked against the Chinese readings before they are believed.
_SINGLE_BYTE = {"cp1252", "iso8859-1", "iso8859-15"}

#: What detection chooses among after UTF-8, in order of preference on a tie
#: (most of Tousu's mail comes from the mainland).
_DETECTED = ("gb18030", "big5hkscs", "cp1252")


def codec_for(label: str | None) -> str | None:
    """The Python codec to decode text labelled ``label`` with; None if the label is
    missing, unknown or says nothing (``us-ascii`` on a part is no information)."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower().split("*", 1)[0]
    if name in _UNINFORMATIVE:
        return None
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):  # UnicodeError: e.g. Python's "undefined" codec
        return None


def detect_charset(data: bytes, candidates: Iterable[str] = _DETECTED) -> str:
    """The codec that reads ``data`` best: ascii, UTF-8 if valid, else the candidate
    charset-normalizer finds least chaotic (ties go to the earlier candidate)."""
    if data.isascii():
        return "ascii"
    if _strict(data, "utf-8") is not None:
        return "utf-8"
    order = [codecs.lookup(c).name for c in candidates]
    matches = from_bytes(bytes(data), cp_isolation=order)
    ranked = sorted(
        (m for m in matches if codecs.lookup(m.encoding).name in order),
        key=lambda m: (round(m.chaos, 3), order.index(codecs.lookup(m.encoding).name)),
    )
    if ranked:
        return codecs.lookup(ranked[0].encoding).name
    for codec in order:
        if _strict(data, codec) is not None:
            return codec
    return order[0] if order else "utf-8"


def decode_bytes(data: bytes, label: str | None = None, hint: str | None = None) -> str:
    """Text from ``data``: the labelled charset if it is known and fits (and no other
    reading is clearly better), else ``hint`` (the charset the rest of the mail is
    in) if it fits, else the detected one."""
    codec = codec_for(label)
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            if data.isascii() or codec not in _CHECKED_LABELS:
                return text
            better = _better_reading(data, codec)
            return text if better is None else better
    if data.isascii():
        return data.decode("ascii")
    if hint is not None and (text := _strict(data, hint)) is not None:
        return text
    codec = detect_charset(data)
    text = _strict(data, codec)
    if text is not None:
        return text
    # Detection samples long texts; bytes it did not see may still not fit.
    return data.decode(codec, errors="replace")


#: Labels whose codec reads bytes of another charset without an error, so a fit
#: proves little: Windows-1252 reads anything, GB18030 reads most Big5 and UTF-8.
_CHECKED_LABELS = {*_SINGLE_BYTE, "gb18030", "big5hkscs"}
#: How much less chaotic another reading must be to overrule a label.
_OVERRULE_MARGIN = 0.02


def _chaos(data: bytes, codec: str) -> float | None:
    best = from_bytes(bytes(data), cp_isolation=[codec], threshold=1.0).best()
    return None if best is None else best.chaos


def _better_reading(data: bytes, codec: str) -> str | None:
    """Another reading of labelled 8-bit ``data`` that is clearly better than the
    label's: valid UTF-8 of some length (mailers label UTF-8 ``gb2312``), else the
    other Chinese charset (or, under a Western label, either) if charset-normalizer
    finds it clearly less chaotic. None: believe the label."""
    if len(data) - sum(byte < 0x80 for byte in data) >= 9:  # three CJK characters
        utf8 = _strict(data, "utf-8")
        if utf8 is not None:
            return utf8
    labelled = _chaos(data, codec)
    for other in ("gb18030", "big5hkscs"):
        if other == codec:
            continue
        chaos = _chaos(data, other)
        if chaos is not None and (labelled is None or labelled - chaos > _OVERRULE_MARGIN):
            return _strict(data, other)
    return None


# --- headers -----------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n[ \t]+")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_SURROGATE = re.compile("[\udc80-\udcff]")


def _raw_bytes(value: str) -> bytes:
    """compat32 keeps 8-bit header bytes as surrogates: the bytes as they came."""
    return value.encode("utf-8", "surrogateescape")


def _raw_header_text(value: str, hint: str | None = None) -> str:
    """A raw header value as text: 8-bit bytes decoded (no charset was declared)."""
    if not _SURROGATE.search(value):
        return value  # ASCII, or already text
    return decode_bytes(_raw_bytes(value), hint=hint)


def _word_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        padded = payload + "=" * (-len(payload) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def decode_header_value(value: str | None, hint: str | None = None) -> str:
    """An RFC 2047 header value as text (adjacent words of one charset joined first);
    raw 8-bit bytes and words in an unknown charset are read in ``hint`` if they fit."""
    if not value:
        return ""
    text = _FOLD.sub(" ", _raw_header_text(str(value), hint)).replace("\r", "").replace("\n", "")
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
        out.append(decode_bytes(piece, charset, hint) if isinstance(piece, bytes) else piece)
    return "".join(out).strip()


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every ``<id>`` in a Message-ID / In-Reply-To / References header, in order."""
    if not value:
        return ()
    return tuple(dict.fromkeys(_MSG_ID.findall(_FOLD.sub(" ", str(value)))))


def _address(value: str | None, hint: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    pairs = email.utils.getaddresses([_FOLD.sub(" ", _raw_header_text(str(value), hint))])
    for name, address in pairs:
        if "@" in address:
            return decode_header_value(name, hint), address.strip().lower()
    return decode_header_value(value, hint), None


def _addresses(values: Iterable[str], hint: str | None) -> tuple[str, ...]:
    texts = [_FOLD.sub(" ", _raw_header_text(str(v), hint)) for v in values]
    pairs = email.utils.getaddresses(texts)
    return tuple(address.strip().lower() for _, address in pairs if "@" in address)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _raw_part_header(part: Message, name: str) -> str | None:
    """A part's header as it came (8-bit bytes kept as surrogates, not replaced)."""
    for key, value in part.raw_items():
        if str(key).lower() == name:
            return str(value)
    return None


def _params(part: Message, header: str) -> list[tuple[str, str | tuple[str, str, str]]]:
    """The parameters of a part's header, RFC 2231 continuations joined, with every
    value holding the raw bytes as Latin-1 characters (``email`` would replace 8-bit
    bytes with U+FFFD; this keeps them for :func:`decode_bytes`)."""
    raw = _raw_part_header(part, header)
    if raw is None:
        return []
    probe = Message()
    probe[header] = _FOLD.sub(" ", _raw_bytes(raw).decode("latin-1"))
    found = probe.get_params(header=header) or []
    return [(str(key).lower(), value) for key, value in found[1:]]


def _param_text(value: str | tuple[str, str, str], hint: str | None) -> str:
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded text)
        charset, _, text = value
        data = email.utils.unquote(text).encode("latin-1", "replace")
        return decode_bytes(data, charset or None, hint)
    data = email.utils.unquote(value).encode("latin-1", "replace")
    if data.isascii():
        return decode_header_value(data.decode("ascii"), hint)
    return decode_bytes(data, hint=hint)


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

_B64_NOISE = re.compile(rb"[^A-Za-z0-9+/]")


def _lenient_base64(data: bytes) -> bytes:
    """Base64 as broken mailers and truncating relays send it: stray characters and
    a missing or cut-off last quantum are tolerated, never a reason to lose the file."""
    try:
        return binascii.a2b_base64(data)  # what the stdlib does, when it works
    except (binascii.Error, ValueError):
        pass
    clean = _B64_NOISE.sub(b"", data)
    if len(clean) % 4 == 1:  # half a byte at the end: drop it
        clean = clean[:-1]
    return base64.b64decode(clean + b"=" * (-len(clean) % 4))


def _body_bytes(part: Message) -> bytes:
    """A non-multipart body as it came, transfer encoding not undone. (Not
    ``get_payload()``: when a charset is declared it replaces 8-bit bytes that do
    not fit it with U+FFFD — exactly the mislabelled text this module must read.)"""
    raw = part._payload  # the stored body: 8-bit bytes kept as surrogates
    return _raw_bytes(raw) if isinstance(raw, str) else b""


def _payload_bytes(part: Message) -> bytes:
    """The decoded body, tolerant of broken encodings and misspelt encoding names
    (``base-64``, ``Base64 ``, ``quoted_printable``)."""
    data = _body_bytes(part)
    encoding = re.sub(r"[^a-z0-9]", "", str(part.get("content-transfer-encoding", "")).lower())
    if encoding in ("base64", "b64"):
        try:
            return _lenient_base64(data)
        except (binascii.Error, ValueError):
            return data
    if encoding in ("quotedprintable", "qp"):
        return quopri.decodestring(data)
    if encoding in ("xuuencode", "uuencode", "uue", "xuue"):
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else data
    return data


def _part_text(part: Message) -> str:
    text = decode_bytes(_payload_bytes(part), part.get_content_charset())
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _filename(part: Message, hint: str | None) -> str | None:
    """The part's file name: RFC 2231 ``filename*`` / ``name*`` first (RFC 6266), then
    plain ``filename`` / ``name``, each in the charset it declares or the mail's."""
    disposition = _params(part, "content-disposition")
    content_type = _params(part, "content-type")
    candidates = [
        *(v for k, v in disposition if k == "filename" and isinstance(v, tuple)),
        *(v for k, v in content_type if k == "name" and isinstance(v, tuple)),
        *(v for k, v in disposition if k == "filename" and isinstance(v, str)),
        *(v for k, v in content_type if k == "name" and isinstance(v, str)),
    ]
    for candidate in candidates:
        decoded = _param_text(candidate, hint)
        base = PureWindowsPath(PurePosixPath(decoded).name).name
        base = "".join(ch for ch in base if ch.isprintable()).strip(" .")
        if base:
            return base[:200]
    return None


# --- repairs -----------------------------------------------------------------

_DELIMITER = re.compile(rb"^--([^\s\"]{1,200}?)(--)?[ \t]*\r?$", re.MULTILINE)


def _repair_multipart(part: Message) -> Message | None:
    """A multipart whose boundary parameter is missing (or matches nothing) re-read
    with the boundary its body shows; None if the body shows none."""
    body = _body_bytes(part)
    counts: dict[bytes, int] = {}
    for match in _DELIMITER.finditer(body):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    boundary = next((token for token, seen in counts.items() if seen >= 2), None)
    if boundary is None:
        return None
    head = f'Content-Type: {part.get_content_type()}; boundary="{boundary.decode("latin-1")}"'
    repaired = email.message_from_bytes(
        head.encode("latin-1") + b"\r\n\r\n" + body, policy=policy.compat32
    )
    if not repaired.is_multipart() or not repaired.get_payload():
        return None
    return repaired


# --- TNEF (winmail.dat) ------------------------------------------------------

_TNEF_MAGIC = b"\x78\x9f\x3e\x22"


@dataclass(frozen=True)
class _TnefContent:
    files: list[MailAttachment]
    text: str


def _tnef_name(attachment: object, codepage: str | None, hint: str | None, index: int) -> str:
    """The file's name: the long (Unicode) name Outlook stores, else the 8.3 title in
    the TNEF's code page (GBK on a Chinese Outlook, not the UTF-8 tnefparse assumes)."""
    for prop in getattr(attachment, "mapi_attrs", []):
        if prop.name == tnef_properties.MAPI_ATTACH_LONG_FILENAME:
            try:
                name = prop.data
            except (UnicodeError, ValueError):
                continue
            if isinstance(name, str) and name.strip("\x00 "):
                return name.strip("\x00 ")
    title = getattr(attachment, "_name", b"")  # attAttachTitle, undecoded
    if isinstance(title, bytes) and title.strip(b"\x00 "):
        return decode_bytes(title.strip(b"\x00 "), codepage, hint)
    if isinstance(title, str) and title.strip("\x00 "):
        return title.strip("\x00 ")
    return f"winmail-{index}"


def _open_tnef(data: bytes, hint: str | None) -> _TnefContent | None:
    """The files (and plain body) inside a TNEF blob; None if it cannot be read."""
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception:  # a third-party parser on hostile bytes: any failure means "unreadable"
        return None
    files = []
    for index, attachment in enumerate(tnef.attachments, start=1):
        content = getattr(attachment, "data", b"")
        if not isinstance(content, bytes) or not content:
            continue
        name = _tnef_name(attachment, tnef.codepage, hint, index)
        name = (
            PureWindowsPath(PurePosixPath(name).name).name.strip(" .")[:200] or f"winmail-{index}"
        )
        files.append(MailAttachment(name, "application/octet-stream", content))
    body = tnef.body
    if isinstance(body, bytes):
        body = decode_bytes(body.rstrip(b"\x00"), tnef.codepage, hint)
    text = (body or "").replace("\r\n", "\n").strip()
    if not text and isinstance(tnef.htmlbody, str | bytes):
        html = tnef.htmlbody
        html = decode_bytes(html, tnef.codepage, hint) if isinstance(html, bytes) else html
        text = html_to_text(html)
    return _TnefContent(files, text)


# --- walking the parts -------------------------------------------------------


class _Walker:
    def __init__(self, hint: str | None = None) -> None:
        self.hint = hint
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
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if content_type == "multipart/alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        if content_type.startswith("multipart/"):
            repaired = _repair_multipart(part)
            if repaired is not None:
                self.walk(repaired, depth + 1)
                return
            # No boundary anywhere: what is there is the text.
            text = _part_text(part)
            if text:
                self.texts.append(text)
            return
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part, self.hint)
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
        if data.startswith(_TNEF_MAGIC):
            opened = _open_tnef(data, self.hint)
            if opened is not None and (opened.files or opened.text):
                self.attachments.extend(opened.files)
                if opened.text and not self.texts:
                    self.texts.append(opened.text)
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
            probe = _Walker(self.hint)
            probe.parts = self.parts
            probe.walk(child, depth + 1)
            self.parts = probe.parts
            if probe.texts:
                self.texts.extend(probe.texts)
                self.attachments.extend(probe.attachments)
                return
        for child in children:  # nothing readable: keep whatever files they carry
            self.walk(child, depth + 1)


def _mail_charset(message: Message) -> str | None:
    """The charset raw 8-bit header bytes (and file names) of this mail are read in:
    UTF-8 if they all are, else a declared charset of its text if all of them fit it,
    else the one detected from all of them together (one name alone is too short to
    tell GBK from Big5)."""
    chunks = []
    declared: list[str] = []
    for part in message.walk():
        for _, value in part.raw_items():
            if not str(value).isascii():
                chunks.append(_raw_bytes(str(value)))
        if part.get_content_maintype() == "text":
            codec = codec_for(part.get_content_charset())
            if codec is not None and codec not in _SINGLE_BYTE:
                declared.append(codec)
    if not chunks:
        return None
    together = b"\n".join(chunks)
    if _strict(together, "utf-8") is not None:
        return "utf-8"  # valid UTF-8 by accident is rare; GB18030 would read it as noise
    for codec in declared:
        if _strict(together, codec) is not None:
            return codec
    return detect_charset(together)


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

    hint = _mail_charset(message)
    headers = {name: decode_header_value(values[0], hint) for name, values in raw_headers.items()}
    walker = _Walker(hint)
    walker.walk(message)
    from_name, from_address = _address(first("from"), hint)
    message_id = message_ids(first("message-id"))
    text = "\n\n".join(walker.texts)[:MAX_TEXT_CHARS]
    return ParsedMail(
        message_id=message_id[0] if message_id else None,
        subject=decode_header_value(first("subject"), hint)[:998],
        from_name=from_name,
        from_address=from_address,
        to=_addresses([*raw_headers.get("to", []), *raw_headers.get("cc", [])], hint),
        in_reply_to=message_ids(first("in-reply-to")),
        references=message_ids(" ".join(raw_headers.get("references", []))),
        date=_date(first("date")),
        text=text,
        attachments=tuple(walker.attachments),
        content_type=message.get_content_type(),
        headers=headers,
    )
