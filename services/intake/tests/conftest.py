"""The shared fixtures (`db`, `client`, `headers_for`, ...) come from
``tousu_common.testing.plugin``; this names the package they build and keeps
each test's files (attachments) in its own directory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont

from tousu_common.db import Database
from tousu_common.messaging.tables import outbox

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


@pytest.fixture
def service_package() -> str:
    return "tousu_intake"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings built by the `client` fixture read this (TOUSU_INTAKE_DATA_DIR)."""
    directory = tmp_path / "intake-data"
    monkeypatch.setenv("TOUSU_INTAKE_DATA_DIR", str(directory))
    return directory


def stored_files(directory: Path) -> list[Path]:
    root = directory / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def outbox_events(db: Database) -> list[dict]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id)
        )
    return [{"type": row.event_type, **json.loads(row.payload)} for row in rows]


async def count_rows(db: Database, table: str) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def text_page(lines: list[str], size: tuple[int, int] = (1700, 1100)) -> Image.Image:
    """A fax-like black-and-white page with Chinese and English text."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(CJK_FONT, 44)
    for index, line in enumerate(lines):
        draw.text((100, 100 + 90 * index), line, font=font, fill=0)
    return image.point(lambda p: 255 if p > 128 else 0).convert("1")


def tiff(pages: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    first, *rest = [page.copy() for page in pages]
    first.save(buffer, "TIFF", compression="group4", save_all=True, append_images=rest)
    return buffer.getvalue()


def pdf(pages: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    first, *rest = [page.convert("L") for page in pages]
    first.save(buffer, "PDF", save_all=True, append_images=rest, resolution=200)
    return buffer.getvalue()


def noise_page() -> Image.Image:
    return Image.effect_noise((800, 600), 120).point(lambda p: 255 if p > 128 else 0).convert("1")
