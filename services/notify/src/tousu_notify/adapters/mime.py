"""Notify's outgoing mail, written as bytes in one pass.

``EmailMessage`` parses every header it is given into a tree, picks each part's
encoding through its content manager and folds every header again on output:
for an acknowledgement (ten headers, a text and an HTML part) that was about
1 ms of CPU, a tenth of notify's CPU per complaint (issue 17). Notify's mail
is always the same shape, so :func:`compose` writes it directly: RFC 2047
encoded words for header text that is not plain ASCII, base64 for bodies that
are not short-lined ASCII (7-bit clean, so no server needs 8BITMIME), CRLF
line ends. An address whose mailbox is not ASCII needs SMTPUTF8 and the
library's care: :func:`compose` declines it (``None``) and the caller builds an
``EmailMessage`` as before.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formataddr, getaddresses
from urllib.parse import quote

#: Longest header line we write (RFC 5322 2.1.1 recommends 78 characters).
_FOLD_AT = 78
#: UTF-8 bytes per encoded word: base64 of 45 bytes is 60 characters, and with
#: ``=?utf-8?b?`` and ``?=`` the word stays within RFC 2047's 75.
_WORD_BYTES = 45
#: Printable ASCII and spaces: text a header can carry as it is.
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
#: Headers that hold address lists; every other header is unstructured text.
_ADDRESS_HEADERS = frozenset({"From", "To", "Reply-To", "Cc"})


def _plain(text: str) -> bool:
    """Header text that can go out as it is: printable ASCII, and nothing a reader
    would take for an encoded word."""
    return _PRINTABLE.fullmatch(text) is not None and "=?" not in text


@dataclass(frozen=True)
class Attachment:
    content: str
    subtype: str
    filename: str


@dataclass(frozen=True)
class ComposedMail:
    """What goes over SMTP: the envelope and the message's bytes."""

    sender: str
    recipients: list[str]
    data: bytes


def compose(
    headers: Iterable[tuple[str, str]],
    *,
    text: str,
    html: str,
    attachments: Iterable[Attachment] = (),
) -> ComposedMail | None:
    """A text and HTML alternative (and attachments) under ``headers``, in order.

    ``From``, ``To`` and ``Reply-To`` are address lists, every other header
    unstructured text. A value with a line break raises ``ValueError`` (as
    ``EmailMessage`` does: it would be header injection). ``None`` when an
    address needs SMTPUTF8.
    """
    lines: list[str] = []
    sender = ""
    recipients: list[str] = []
    for name, value in headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"the {name} header contains a line break")
        if name in _ADDRESS_HEADERS:
            pairs = getaddresses([value])
            if not all(address.isascii() for _, address in pairs):
                return None
            if name == "From":
                sender = pairs[0][1] if pairs else ""
            elif name == "To":
                recipients = [address for _, address in pairs if address]
            lines.append(_fold(name, [_mailbox(pair) for pair in pairs], ","))
        else:
            lines.append(_fold(name, _words(value), ""))
    if not sender or not recipients:
        raise ValueError("a message needs a From and a To header")
    alternative = _multipart("alternative", [_text_part("plain", text), _text_part("html", html)])
    attached = [_attachment(item) for item in attachments]
    body = _multipart("mixed", [alternative, *attached]) if attached else alternative
    data = "\r\n".join([*lines, "MIME-Version: 1.0", body]).encode("ascii")
    return ComposedMail(sender, recipients, data)


def _words(value: str) -> list[str]:
    """Unstructured header text as foldable words: itself if plain, else encoded words."""
    if _plain(value):
        return value.split(" ")
    return _encoded_words(value)


def _encoded_words(value: str) -> list[str]:
    """RFC 2047 base64 words, each at most ``_WORD_BYTES`` of UTF-8, never splitting
    a character (a reader decodes each word on its own)."""
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8", "surrogateescape")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk or not words:
        words.append(_encoded_word(bytes(chunk)))
    return words


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _mailbox(pair: tuple[str, str]) -> str:
    name, address = pair
    if not name:
        return address
    if _plain(name):
        return formataddr((name, address))
    return " ".join([*_encoded_words(name), f"<{address}>"])


def _fold(name: str, words: list[str], separator: str) -> str:
    """``Name: words`` folded between words so lines stay near ``_FOLD_AT``
    (a single word longer than that keeps its own line)."""
    lines: list[str] = []
    line = f"{name}:"
    last = len(words) - 1
    for index, word in enumerate(words):
        piece = word + (separator if index < last else "")
        if len(line) + 1 + len(piece) > _FOLD_AT and index:
            lines.append(line)
            line = ""
        line = f"{line} {piece}"
    lines.append(line)
    return "\r\n".join(lines)


def _text_part(subtype: str, content: str) -> str:
    if not content.endswith("\n"):
        content += "\n"
    return _leaf(f'text/{subtype}; charset="utf-8"', content)


def _attachment(item: Attachment) -> str:
    if _PRINTABLE.fullmatch(item.filename) and '"' not in item.filename:
        filename = f'filename="{item.filename}"'
    else:  # RFC 2231
        filename = f"filename*=utf-8''{quote(item.filename, safe='')}"
    return _leaf(
        f'text/{item.subtype}; charset="utf-8"',
        item.content,
        disposition=f"attachment; {filename}",
    )


def _leaf(content_type: str, content: str, *, disposition: str | None = None) -> str:
    """A part's headers and body: 7bit when the text is ASCII with short lines and
    no bare carriage return, else base64."""
    headers = [f"Content-Type: {content_type}"]
    if disposition:
        headers.append(f"Content-Disposition: {disposition}")
    lines = content.split("\n")
    if content.isascii() and "\r" not in content and all(len(line) <= 998 for line in lines):
        headers.append("Content-Transfer-Encoding: 7bit")
        body = "\r\n".join(lines)
    else:
        headers.append("Content-Transfer-Encoding: base64")
        # Lines end in LF inside the encoding, as the standard library writes them
        # (what readers have always got from us); the base64 lines end in CRLF.
        data = b"\n".join(content.encode("utf-8", "replace").splitlines()) + b"\n"
        body = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    return "\r\n".join([*headers, "", body])


def _multipart(subtype: str, parts: list[str]) -> str:
    # "=_" never occurs in base64; a 7-bit part would need this very random line.
    boundary = f"=_tousu_{secrets.token_hex(12)}"
    pieces = [f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"', ""]
    for part in parts:
        pieces += [f"--{boundary}", part]
    pieces += [f"--{boundary}--", ""]
    return "\r\n".join(pieces)


__all__ = ["Attachment", "ComposedMail", "compose"]
