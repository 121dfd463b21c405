"""What a file is, from its first bytes: never from its name or declared type.

Shared by every upload Tousu takes from outside (intake's attachments and fax
documents, rectification's 8D evidence): documents and pictures by their magic
numbers. A service adds its own structural checks (Office files, mail, text)
on top.
"""

from __future__ import annotations

#: MIME type → the extension a stored or downloaded file gets.
MEDIA_EXTENSIONS: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tif",
    "image/gif": "gif",
    "image/webp": "webp",
}


def sniff_media(data: bytes) -> str | None:
    """The MIME type of a PDF or picture (PNG, JPEG, TIFF, GIF, WebP), else None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
