"""The fax/letter decoding step (before any OCR) fed malformed documents.

Mutated and truncated real TIFF, PDF, PNG and JPEG files, arbitrary bytes, and
headers declaring huge pages: decoding either yields pages within the pixel cap
or raises ``InvalidInput`` naming the field (the 422 path) — never another
exception, never a page bigger than the cap. No Tesseract runs here.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tousu_common.errors import InvalidInput
from tousu_intake.adapters.ocr import _pdf_pages, _raster_pages
from tousu_intake.config import Settings

from .documents import noise_page, pdf, tiff

MAX_PIXELS = 250_000
SETTINGS = Settings(
    jwt_secret="document-fuzz-" + "x" * 32,
    ocr_max_pages=5,
    ocr_max_pixels_per_page=MAX_PIXELS,
    ocr_pdf_dpi=72,
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _small_pages() -> list[Image.Image]:
    return [noise_page().resize((200, 150)), noise_page().resize((120, 90))]


def _png() -> bytes:
    buffer = io.BytesIO()
    noise_page().resize((100, 80)).convert("L").save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    noise_page().resize((100, 80)).convert("L").save(buffer, "JPEG")
    return buffer.getvalue()


def _uncompressed_tiff() -> bytes:
    buffer = io.BytesIO()
    noise_page().resize((64, 48)).convert("L").save(buffer, "TIFF")
    return buffer.getvalue()


SEEDS: dict[str, tuple[bytes, str]] = {
    "tiff-group4": (tiff(_small_pages()), "image/tiff"),
    "tiff-raw": (_uncompressed_tiff(), "image/tiff"),
    "pdf": (pdf(_small_pages()), "application/pdf"),
    "png": (_png(), "image/png"),
    "jpeg": (_jpeg(), "image/jpeg"),
}


def decode(data: bytes, content_type: str) -> list[tuple[int, int]]:
    """Every page's size, decoding each page as OCR would; or ``InvalidInput``."""
    pages: Iterator[tuple[Image.Image | str, object]] = (
        _pdf_pages(data, SETTINGS, "document", use_text_layer=False)
        if content_type == "application/pdf"
        else _raster_pages(data, SETTINGS, "document")
    )
    sizes = []
    try:
        for page, _ in pages:
            assert isinstance(page, Image.Image)
            page.load()
            sizes.append(page.size)
    finally:
        pages.close()  # type: ignore[attr-defined]
    return sizes


def assert_decodes_within_limits_or_is_refused(data: bytes, content_type: str) -> None:
    try:
        sizes = decode(data, content_type)
    except InvalidInput as refused:
        assert refused.status_code == 422
        assert [f["field"] for f in refused.fields] == ["document"]
        return
    assert len(sizes) <= SETTINGS.ocr_max_pages
    for width, height in sizes:
        # PDF pages are scaled down to the cap; allow PDFium's rounding of each side.
        assert width * height <= MAX_PIXELS + width + height + 1


def test_the_unmutated_seeds_decode() -> None:
    for name, (data, content_type) in SEEDS.items():
        assert decode(data, content_type), name


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4096), st.integers(0, 255)), max_size=8
    ),
    cut=st.none() | st.integers(min_value=0, max_value=8192),
)
def test_mutated_and_truncated_documents_decode_or_are_refused_as_invalid_input(
    seed: str, edits: list[tuple[int, int]], cut: int | None
) -> None:
    original, content_type = SEEDS[seed]
    data = bytearray(original)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    assert_decodes_within_limits_or_is_refused(bytes(data), content_type)


@FUZZ
@given(
    content_type=st.sampled_from(["image/tiff", "application/pdf", "image/png", "image/jpeg"]),
    prefix=st.sampled_from([b"", b"II*\x00", b"MM\x00*", b"%PDF-1.4\n", b"\x89PNG\r\n\x1a\n"]),
    body=st.binary(max_size=2000),
)
def test_arbitrary_bytes_are_refused_as_invalid_input(
    content_type: str, prefix: bytes, body: bytes
) -> None:
    assert_decodes_within_limits_or_is_refused(prefix + body, content_type)


def _tiff_declaring(width: int, height: int, pages: int) -> bytes:
    """A little-endian TIFF whose IFDs claim ``width``x``height`` greyscale pages
    but whose strips hold only a few bytes."""
    entries_per_ifd = 8
    ifd_size = 2 + entries_per_ifd * 12 + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    strip = b"\x00" * 16
    first_strip = 8 + pages * ifd_size
    for index in range(pages):
        following = 8 + (index + 1) * ifd_size if index + 1 < pages else 0
        entries = [
            (256, 4, 1, width),  # ImageWidth (LONG)
            (257, 4, 1, height),  # ImageLength
            (258, 3, 1, 8),  # BitsPerSample
            (259, 3, 1, 1),  # Compression: none
            (262, 3, 1, 1),  # Photometric: black is zero
            (273, 4, 1, first_strip),  # StripOffsets
            (278, 4, 1, height),  # RowsPerStrip
            (279, 4, 1, len(strip)),  # StripByteCounts
        ]
        out += struct.pack("<H", len(entries))
        for tag, kind, count, value in entries:
            packed = struct.pack("<HHI", tag, kind, count)
            packed += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
            out += packed
        out += struct.pack("<I", following)
    return bytes(out + strip)


@FUZZ
@given(
    width=st.integers(min_value=1, max_value=2**32 - 1),
    height=st.integers(min_value=1, max_value=2**32 - 1),
    pages=st.integers(min_value=1, max_value=8),
)
def test_tiff_headers_declaring_huge_pages_are_refused_before_decoding(
    width: int, height: int, pages: int
) -> None:
    data = _tiff_declaring(width, height, pages)
    if width * height > MAX_PIXELS or pages > SETTINGS.ocr_max_pages:
        with pytest.raises(InvalidInput):
            decode(data, "image/tiff")
    else:
        assert_decodes_within_limits_or_is_refused(data, "image/tiff")


def _pdf_with_media_box(box: tuple[float, float, float, float]) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] >>"
        % " ".join(f"{v:g}" for v in box).encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@FUZZ
@given(
    box=st.tuples(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.floats(-1e9, 1e9, allow_nan=False),
        st.floats(-1e9, 1e9, allow_nan=False),
    )
)
def test_pdf_pages_of_any_declared_size_render_within_the_pixel_cap_or_are_refused(
    box: tuple[float, float, float, float],
) -> None:
    assert_decodes_within_limits_or_is_refused(_pdf_with_media_box(box), "application/pdf")


def test_the_crafted_headers_are_real_documents() -> None:
    """So the properties above test the limits, not a parser that rejects everything."""
    assert decode(_tiff_declaring(4, 3, 2), "image/tiff") == [(4, 3), (4, 3)]
    assert decode(_pdf_with_media_box((0, 0, 100, 50)), "application/pdf") == [(100, 50)]
    [(width, height)] = decode(_pdf_with_media_box((0, 0, 1e6, 1e6)), "application/pdf")
    assert 0 < width * height <= MAX_PIXELS + width + height + 1
    with pytest.raises(InvalidInput, match="decompression bomb"):
        decode(_tiff_declaring(100_000, 100_000, 1), "image/tiff")
