"""Reading multipart uploads into :class:`IncomingFile` within the size limits."""

from __future__ import annotations

from fastapi import UploadFile

from tousu_common.errors import PayloadTooLarge
from tousu_intake.config import Settings
from tousu_intake.domain.files import IncomingFile


async def read_upload(settings: Settings, upload: UploadFile, field: str) -> IncomingFile:
    """One uploaded file, refusing it (413, naming ``field``) past the per-file limit
    without reading further."""
    data = await upload.read(settings.attachment_max_bytes + 1)
    if len(data) > settings.attachment_max_bytes:
        raise PayloadTooLarge(
            f"{field}: more than {settings.attachment_max_bytes} bytes",
            fields=[{"field": field, "problem": "file too large"}],
        )
    return IncomingFile(
        filename=upload.filename or "attachment",
        data=data,
        declared_type=upload.content_type,
        field=field,
    )


async def read_uploads(
    settings: Settings, uploads: list[UploadFile] | None, field: str = "files"
) -> list[IncomingFile]:
    files = []
    total = 0
    for index, upload in enumerate(uploads or []):
        if not upload.filename and upload.size == 0:
            continue  # an empty file input in a browser form
        incoming = await read_upload(settings, upload, f"{field}[{index}]")
        total += len(incoming.data)
        if total > settings.attachment_max_request_bytes:
            raise PayloadTooLarge(
                f"{field}: more than {settings.attachment_max_request_bytes} bytes together",
                fields=[{"field": field, "problem": "too large together"}],
            )
        files.append(incoming)
    return files
