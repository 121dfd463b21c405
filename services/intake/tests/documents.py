"""Scanned documents made in the test: fax-like pages with Chinese and English text
(Debian's WenQuanYi Zen Hei font), multi-page group-4 TIFF, PDF, and noise."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


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
