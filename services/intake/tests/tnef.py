"""Outlook's TNEF (``winmail.dat``) assembled byte by byte as MS-OXTNEF lays it out, so
the tests feed the real parser real structure (no mock of tnefparse).

A TNEF stream is a signature, a key, then attributes: level (1 message, 2
attachment), a 32-bit id (low word the attribute, high word its type), the data
length, the data, and a 16-bit checksum (the sum of the data bytes). Each
attachment starts with ``attAttachRendData``; its 8-bit title is in the OEM code
page (``attOemCodepage``), its long name a Unicode MAPI property in
``attAttachment``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SIGNATURE = 0x223E9F78
MESSAGE, ATTACHMENT = 1, 2

ATT_TNEF_VERSION = 0x00089006
ATT_OEM_CODEPAGE = 0x00069007
ATT_MESSAGE_CLASS = 0x00078008
ATT_BODY = 0x0002800C
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
ATT_ATTACHMENT = 0x00069005

PT_UNICODE = 0x001F
PR_ATTACH_LONG_FILENAME = 0x3707


@dataclass(frozen=True)
class TnefFile:
    data: bytes
    #: the 8-bit title, written in the TNEF's OEM code page
    title: str
    #: the long (Unicode) name Outlook adds; None for a title-only attachment
    long_name: str | None = None


def _attribute(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", checksum)


def _unicode_property(prop_id: int, text: str) -> bytes:
    value = (text + "\x00").encode("utf-16-le")
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("<HHII", PT_UNICODE, prop_id, 1, len(value)) + value + padding


def tnef_blob(files: list[TnefFile], *, codepage: int = 936, body: str | None = None) -> bytes:
    """A winmail.dat carrying ``files`` (and a plain ``body``) in code page ``codepage``."""
    codec = f"cp{codepage}"
    out = struct.pack("<IH", SIGNATURE, 0x1A2B)
    out += _attribute(MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += _attribute(MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", codepage, 0))
    out += _attribute(MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00")
    if body is not None:
        out += _attribute(MESSAGE, ATT_BODY, body.encode(codec) + b"\x00")
    for position, file in enumerate(files):
        # AttachType 1 (file), position, width, height (unknown: -1), flags
        rendering = struct.pack("<HIhhI", 1, position, -1, -1, 0)
        out += _attribute(ATTACHMENT, ATT_ATTACH_REND_DATA, rendering)
        out += _attribute(ATTACHMENT, ATT_ATTACH_TITLE, file.title.encode(codec) + b"\x00")
        out += _attribute(ATTACHMENT, ATT_ATTACH_DATA, file.data)
        if file.long_name is not None:
            props = struct.pack("<I", 1) + _unicode_property(
                PR_ATTACH_LONG_FILENAME, file.long_name
            )
            out += _attribute(ATTACHMENT, ATT_ATTACHMENT, props)
    return out
