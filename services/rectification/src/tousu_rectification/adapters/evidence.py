"""Evidence files of 8D answers: sniffed by their first bytes (never by the name or
the declared type), size-limited, stored under ``data_dir/evidence/<rectification>/``."""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

from starlette.datastructures import UploadFile

from tousu_common.filetypes import MEDIA_EXTENSIONS, sniff_media


@dataclass(frozen=True)
class StoredFile:
    evidence_id: UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    stored_name: str


def sniff(content: bytes) -> tuple[str, str] | None:
    """(extension, MIME type) from the content, or None if it is not an allowed type:
    evidence may be any document or picture ``sniff_media`` knows."""
    mime = sniff_media(content)
    return (MEDIA_EXTENSIONS[mime], mime) if mime is not None else None


def safe_filename(name: str) -> str:
    """The client's file name, for display only: no paths, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip() or "evidence"
    return name[:200]


def evidence_dir(data_dir: Path, rectification_id: UUID) -> Path:
    return Path(data_dir) / "evidence" / str(rectification_id)


def store(
    data_dir: Path, rectification_id: UUID, filename: str, content: bytes, mime: str, ext: str
) -> StoredFile:
    evidence_id = uuid4()
    stored_name = f"{evidence_id}.{ext}"
    directory = evidence_dir(data_dir, rectification_id)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / stored_name).write_bytes(content)
    return StoredFile(
        evidence_id=evidence_id,
        filename=safe_filename(filename),
        content_type=mime,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        stored_name=stored_name,
    )


@dataclass(frozen=True)
class Upload:
    """A received file that passed the checks, not yet stored."""

    filename: str
    content: bytes
    mime: str
    ext: str


async def read_uploads(
    uploads: list[UploadFile], *, max_bytes: int, max_files: int
) -> tuple[list[Upload], list[tuple[str, str]]]:
    """Read and check uploaded files: (accepted files, [(field, problem)])."""
    files: list[Upload] = []
    errors: list[tuple[str, str]] = []
    for upload in uploads:
        content = await upload.read(max_bytes + 1)
        name = upload.filename or "evidence"
        if not content:
            continue
        if len(content) > max_bytes:
            errors.append(("evidence", f"{name}: > {max_bytes // 1024} KiB"))
            continue
        kind = sniff(content)
        if kind is None:
            errors.append(("evidence", f"{name}: PDF, PNG, JPEG, GIF, TIFF, WebP"))
            continue
        files.append(Upload(name, content, kind[1], kind[0]))
    if len(files) > max_files:
        errors.append(("evidence", f"≤ {max_files}"))
    return files, errors


def remove(data_dir: Path, rectification_id: UUID, stored: list[StoredFile]) -> None:
    """Undo :func:`store` for files whose transaction did not commit."""
    for saved in stored:
        with contextlib.suppress(OSError):
            (evidence_dir(data_dir, rectification_id) / saved.stored_name).unlink()
