"""A received file as the domain sees it, and what may be attached.

The rules — allowed types (sniffed from the bytes, never the client's word),
size and count limits, the display name a download gets — live here; writing
files and their rows is :mod:`tousu_intake.adapters.attachments`'s.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Any, Protocol

from tousu_common.domain_errors import InvalidInput, PayloadTooLarge
from tousu_common.filetypes import sniff_media

__all__ = [
    "ALLOWED_TYPES",
    "FileLimits",
    "IncomingFile",
    "check_files",
    "safe_filename",
    "sniff",
]


class FileLimits(Protocol):
    """The limits :func:`check_files` applies (the service's settings have them)."""

    @property
    def attachment_max_files(self) -> int: ...

    @property
    def attachment_max_request_bytes(self) -> int: ...

    @property
    def attachment_max_bytes(self) -> int: ...


@dataclass(frozen=True)
class IncomingFile:
    """A file as a channel received it; ``declared_type`` is only a hint."""

    filename: str
    data: bytes
    declared_type: str | None = None
    #: The request field it came in, for error messages ("files[1]", "document").
    field: str = "files"
    #: What was read from it (a fax's header line, …), kept on its attachment row.
    document_info: dict[str, Any] | None = None


#: What may be attached, by sniffed type → the extension used when downloading.
ALLOWED_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tif",
    "image/gif": "gif",
    "image/webp": "webp",
    "text/plain": "txt",
    "message/rfc822": "eml",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    # Kept as they are, never opened: photos zipped by the customer, an Office file
    # whose zip is damaged, a winmail.dat tnefparse could not read — nothing a
    # customer attached is lost (downloads are served as attachments, nosniff).
    "application/zip": "zip",
    "application/vnd.ms-tnef": "dat",
}

_ALIASES = {"jpg": {"jpg", "jpeg"}, "tif": {"tif", "tiff"}, "txt": {"txt", "text", "log", "csv"}}

_LEGACY_OFFICE = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}
_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_TNEF_MAGIC = b"\x78\x9f\x3e\x22"

_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,76}:[ \t]", re.MULTILINE)
_MAIL_HEADERS = (b"from:", b"to:", b"subject:", b"date:", b"message-id:", b"received:")


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def _looks_like_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(
            1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\r\n\t\f"
        )
        return controls <= max(2, len(text) // 1000)
    return False


def _looks_like_mail(data: bytes, filename: str, declared: str | None) -> bool:
    head = data[:8192]
    lowered = head.lower()
    headers = sum(1 for name in _MAIL_HEADERS if re.search(rb"(?m)^" + name, lowered))
    starts_with_header = bool(_HEADER_LINE.match(head)) or head.startswith(b"From ")
    hinted = _extension(filename) == "eml" or (declared or "").lower() == "message/rfc822"
    return starts_with_header and (headers >= 3 or (hinted and headers >= 1))


def _local_entry_names(data: bytes) -> list[str]:
    """The names in a zip's local file headers (name length at offset 26, name at 30)."""
    names = []
    for match in re.finditer(rb"PK\x03\x04", data[:1_000_000]):
        header = data[match.start() : match.start() + 30]
        if len(header) < 30:
            break
        (length,) = struct.unpack_from("<H", header, 26)
        start = match.start() + 30
        names.append(data[start : start + length].decode("cp437"))
    return names


def sniff(data: bytes, filename: str = "", declared_type: str | None = None) -> str | None:
    """The content type by magic numbers (and structure for Office/mail); None if unknown."""
    media = sniff_media(data)
    if media is not None:
        return media
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: legacy Office
        return _LEGACY_OFFICE.get(_extension(filename))
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            # Damaged (truncated in transit, no central directory): the local file
            # headers still name what is inside.
            names = _local_entry_names(data)
        if "[Content_Types].xml" in names:
            for prefix, office_type in _OOXML.items():
                if any(n.startswith(prefix) for n in names):
                    return office_type
        return "application/zip"
    if data.startswith(_TNEF_MAGIC):
        return "application/vnd.ms-tnef"
    if data and _looks_like_text(data):
        return "message/rfc822" if _looks_like_mail(data, filename, declared_type) else "text/plain"
    return None


def safe_filename(filename: str, content_type: str) -> str:
    """A display name without paths or control characters, ending in the real type's
    extension (so a download never opens as something else)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    name = name[:200] or "attachment"
    extension = ALLOWED_TYPES[content_type]
    if _extension(name) not in _ALIASES.get(extension, {extension}):
        name = f"{name}.{extension}"
    return name


def check_files(settings: FileLimits, files: list[IncomingFile]) -> list[str]:
    """Limits and types, before anything is written; the sniffed type of each file."""
    if len(files) > settings.attachment_max_files:
        raise InvalidInput.about(
            "files", f"at most {settings.attachment_max_files} files per request"
        )
    total = sum(len(f.data) for f in files)
    if total > settings.attachment_max_request_bytes:
        raise PayloadTooLarge(
            f"files: together {total} bytes, more than {settings.attachment_max_request_bytes}",
            fields=[{"field": "files", "problem": "too large together"}],
        )
    types = []
    for index, incoming in enumerate(files):
        field = incoming.field if incoming.field != "files" else f"files[{index}]"
        if not incoming.data:
            raise InvalidInput.about(field, "the file is empty")
        if len(incoming.data) > settings.attachment_max_bytes:
            raise PayloadTooLarge(
                f"{field}: more than {settings.attachment_max_bytes} bytes",
                fields=[{"field": field, "problem": "file too large"}],
            )
        content_type = sniff(incoming.data, incoming.filename, incoming.declared_type)
        if content_type is None:
            raise InvalidInput.about(
                field,
                "unsupported file type (allowed: pdf, png, jpeg, tiff, gif, webp, txt, "
                "doc, docx, xls, xlsx, ppt, pptx, eml, zip)",
            )
        types.append(content_type)
    return types
