"""Attachments: sniffed from their bytes, limited, and never half-written."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from uuid import UUID

import pytest
import sqlalchemy as sa
from PIL import Image

from tousu_common.db import Database
from tousu_common.errors import InvalidInput, PayloadTooLarge
from tousu_common.events import Channel
from tousu_intake.adapters.attachments import store_attachments
from tousu_intake.adapters.orm import AttachmentRow
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.files import IncomingFile, safe_filename, sniff
from tousu_intake.handlers.receive import receive


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


def office(prefix: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{prefix}/document.xml", "<x/>")
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"%PDF-1.4\n...", "a.pdf", "application/pdf"),
        (png(), "photo.jpg", "image/png"),  # the bytes win over the name
        (b"\xff\xd8\xff\xe0rest", "x", "image/jpeg"),
        (b"II*\x00rest", "fax", "image/tiff"),
        (b"GIF89a...", "g", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "w", "image/webp"),
        ("发动机漏油\n".encode("gb18030"), "note.txt", "text/plain"),
        (b"From: a@b.c\nTo: d@e.f\nSubject: hi\nDate: today\n\nbody", "m.eml", "message/rfc822"),
        (
            office("word"),
            "r.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            office("xl"),
            "r.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.doc", "application/msword"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "setup.pdf", None),
        # a zip is kept, even a damaged one (never opened); a damaged Office file is
        # recognised from its local file headers
        (b"PK\x03\x04garbage", "x.zip", "application/zip"),
        (zipped({"IMG_0001.jpg": b"\xff\xd8\xff"}), "photos.zip", "application/zip"),
        (
            office("word")[:-30],
            "report.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            office("ppt"),
            "slides.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.ppt", "application/vnd.ms-powerpoint"),
        (b"\x78\x9f\x3e\x22\x01\x00broken", "winmail.dat", "application/vnd.ms-tnef"),
        (b"\x00\x01\x02binary", "b.txt", None),
    ],
)
def test_type_comes_from_the_bytes(data: bytes, filename: str, expected: str | None) -> None:
    assert sniff(data, filename) == expected


def test_download_names_are_safe_and_end_in_the_real_type() -> None:
    assert safe_filename("../../etc/passwd", "text/plain") == "passwd.txt"
    assert safe_filename("C:\\scans\\传真.tif", "image/tiff") == "传真.tif"
    assert safe_filename("invoice.pdf.exe", "application/pdf") == "invoice.pdf.exe.pdf"
    assert safe_filename("scan.TIFF", "image/tiff") == "scan.TIFF"
    assert safe_filename("photo.tiff", "image/jpeg") == "photo.tiff.jpg"
    assert safe_filename("photo.jpeg", "image/jpeg") == "photo.jpeg"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        jwt_secret="x" * 40,
        database_url=database_url,
        data_dir=tmp_path / "data",
        attachment_max_bytes=1000,
        attachment_max_request_bytes=1500,
    )


def stored_files(settings: Settings) -> list[Path]:
    root = Path(settings.data_dir) / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_files_are_removed_when_the_transaction_fails(
    db: Database, settings: Settings
) -> None:
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.hotline, description="d", customer_name="王"),
        received_by="agent",
    )
    complaint_id = receipt.body["id"]
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            rows = await store_attachments(
                session,
                settings,
                complaint_id,
                [IncomingFile("a.txt", b"hello"), IncomingFile("b.png", png())],
                source="test",
            )
            assert len(stored_files(settings)) == 2 and rows[1].content_type == "image/png"
            raise RuntimeError("something later in the transaction failed")
    assert stored_files(settings) == []
    async with db.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(AttachmentRow)) == 0


async def test_limits_are_checked_before_anything_is_written(
    db: Database, settings: Settings
) -> None:
    command = ReceiveFromChannel(channel=Channel.hotline, description="d", customer_name="王")
    with pytest.raises(PayloadTooLarge):
        await receive(
            db,
            settings,
            ReceiveFromChannel(**{**vars(command), "files": (IncomingFile("a.txt", b"a" * 1001),)}),
            received_by="agent",
        )
    with pytest.raises(PayloadTooLarge):
        files = (IncomingFile("a.txt", b"a" * 800), IncomingFile("b.txt", b"b" * 800))
        await receive(
            db, settings, ReceiveFromChannel(**{**vars(command), "files": files}), received_by="a"
        )
    with pytest.raises(InvalidInput) as caught:
        files = (IncomingFile("ok.txt", b"ok"), IncomingFile("x.exe", b"MZ\x90\x00"))
        await receive(
            db, settings, ReceiveFromChannel(**{**vars(command), "files": files}), received_by="a"
        )
    assert caught.value.fields == [
        {"field": "files[1]", "problem": caught.value.fields[0]["problem"]}
    ]
    assert stored_files(settings) == []
    async with db.sessions() as session:
        count = await session.scalar(sa.text("SELECT count(*) FROM complaints"))
    assert count == 0


async def test_a_received_complaint_keeps_its_files(db: Database, settings: Settings) -> None:
    files = (IncomingFile("照片.png", png(), "application/octet-stream"),)
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(channel=Channel.web, description="d", files=files),
        received_by="web",
    )
    [attachment_id] = receipt.body["attachments"]
    async with db.sessions() as session:
        row = await session.get(AttachmentRow, UUID(attachment_id))
    assert row is not None and row.content_type == "image/png" and row.filename == "照片.png"
    [path] = stored_files(settings)
    assert path.read_bytes() == files[0].data
