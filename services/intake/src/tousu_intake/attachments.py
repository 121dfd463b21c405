"""Attachments: sniffed, size-limited, written to disk with their row — or not at all.

A file is written (to a temporary name, then renamed) before its row is
inserted in the caller's transaction; if that transaction rolls back, the
files it wrote are deleted, so there is never a row without a file nor,
short of a crash between write and commit, a file without a row. Paths are
``attachments/<yyyy>/<mm>/<uuid>`` under ``settings.data_dir`` (never the
client's file name), and the content type comes from the bytes, not from
what the client declared.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import struct
import unicodedata
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.errors import InvalidInput, PayloadTooLarge
from tousu_common.filetypes import sniff_media
from tousu_intake.adapters.orm import AttachmentRow
from tousu_intake.config import Settings
from tousu_intake.domain.files import IncomingFile

__all__ = [
    "ALLOWED_TYPES",
    "AttachmentRow",
    "IncomingFile",
    "attachment_path",
    "check_files",
    "sniff",
    "store_attachments",
]

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

_FILES_WRITTEN = "tousu_attachment_files"


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


def check_files(settings: Settings, files: list[IncomingFile]) -> list[str]:
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


def attachment_path(settings: Settings, storage_path: str) -> Path:
    return Path(settings.data_dir) / "attachments" / storage_path


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def _delete(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _track_written(session: AsyncSession, path: Path) -> None:
    """Remember a written file; delete them all if this session's transaction rolls back."""
    sync_session = session.sync_session
    written: list[Path] | None = sync_session.info.get(_FILES_WRITTEN)
    if written is None:
        written = sync_session.info[_FILES_WRITTEN] = []

        def rolled_back(rolled_session: object) -> None:
            _delete(written)
            written.clear()

        def committed(committed_session: object) -> None:
            written.clear()

        event.listen(sync_session, "after_rollback", rolled_back)
        event.listen(sync_session, "after_commit", committed)
    written.append(path)


async def store_attachments(
    session: AsyncSession,
    settings: Settings,
    complaint_id: UUID,
    files: list[IncomingFile],
    *,
    source: str,
    amendment_id: UUID | None = None,
) -> list[AttachmentRow]:
    """Check, write and record ``files`` for a complaint, in the caller's transaction.

    Raises :class:`InvalidInput` (or 413) naming the field before anything is
    written. The caller must have inserted the complaint (and amendment) row
    first — the attachment rows reference them.
    """
    if not files:
        return []
    complaint_id = UUID(str(complaint_id))
    types = check_files(settings, files)
    now = datetime.now(UTC)
    rows = []
    for incoming, content_type in zip(files, types, strict=True):
        attachment_id = uuid4()
        storage_path = f"{now:%Y}/{now:%m}/{attachment_id}"
        target = attachment_path(settings, storage_path)
        _track_written(session, target)
        await asyncio.to_thread(_write, target, incoming.data)
        rows.append(
            AttachmentRow(
                id=attachment_id,
                complaint_id=complaint_id,
                amendment_id=amendment_id,
                filename=safe_filename(incoming.filename, content_type),
                content_type=content_type,
                size=len(incoming.data),
                sha256=hashlib.sha256(incoming.data).hexdigest(),
                storage_path=storage_path,
                source=source[:30],
                created_at=now,
                document_info=incoming.document_info,
            )
        )
    session.add_all(rows)
    await session.flush()
    return rows


async def list_attachments(session: AsyncSession, complaint_id: UUID) -> list[AttachmentRow]:
    result = await session.scalars(
        sa.select(AttachmentRow)
        .where(AttachmentRow.complaint_id == complaint_id)
        .order_by(AttachmentRow.created_at, AttachmentRow.filename)
    )
    return list(result.all())
