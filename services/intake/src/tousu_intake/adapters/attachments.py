"""Attachments: written to disk with their row — or not at all.

A file is written (to a temporary name, then renamed) before its row is
inserted in the caller's transaction; if that transaction rolls back, the
files it wrote are deleted, so there is never a row without a file nor,
short of a crash between write and commit, a file without a row. Paths are
``attachments/<yyyy>/<mm>/<uuid>`` under ``settings.data_dir`` (never the
client's file name). What may be attached, and as which type, is
:mod:`tousu_intake.domain.files`'s to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_intake.adapters.orm import AttachmentRow
from tousu_intake.config import Settings
from tousu_intake.domain.files import IncomingFile, check_files, safe_filename

__all__ = [
    "AttachmentRow",
    "attachment_path",
    "get_attachment",
    "list_attachments",
    "store_attachments",
]

_FILES_WRITTEN = "tousu_attachment_files"


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


async def get_attachment(session: AsyncSession, attachment_id: UUID) -> AttachmentRow | None:
    return await session.get(AttachmentRow, attachment_id)
