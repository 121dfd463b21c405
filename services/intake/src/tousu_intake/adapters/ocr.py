"""Reading faxes and scanned letters: TIFF/PDF/image pages → text + confidence.

Tesseract (``pytesseract``, ``-l chi_sim+eng``) runs in a worker thread, so the
event loop keeps serving while a fax is read, and at most
``ocr_concurrency`` documents are read at once. Each Tesseract process gets
``OMP_THREAD_LIMIT=1`` (3–5x faster on a small machine, same output).

The document is checked before any page is decoded: raster pages above
``ocr_max_pixels_per_page`` (decompression bombs), more than
``ocr_max_pages`` pages, and files Pillow/PDFium cannot read are refused with
:class:`InvalidInput` naming the request field. PDF pages are rendered with
PDFium at ``ocr_pdf_dpi``, scaled down if that would exceed the pixel cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
import pytesseract
from PIL import Image, ImageSequence, UnidentifiedImageError

from tousu_common.errors import InvalidInput
from tousu_intake.config import Settings

log = logging.getLogger(__name__)

# pytesseract starts tesseract with this process's environment (os.environ).
os.environ["OMP_THREAD_LIMIT"] = "1"

#: Types the OCR path reads (what the attachment sniffer calls them).
OCR_TYPES = frozenset(
    {"image/tiff", "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"}
)

# PDFium is not thread-safe: one document at a time in this process.
_PDFIUM = threading.Lock()
_SEMAPHORES: dict[tuple[int, int], asyncio.Semaphore] = {}


@dataclass(frozen=True)
class OcrResult:
    text: str
    confidence: float  # mean word confidence, 0–100 (0 when no word was found)
    pages: int


def _raster_pages(data: bytes, settings: Settings, field: str) -> Iterator[Image.Image]:
    """Each page, greyscale; its size is checked from the header before it is decoded."""
    try:
        image = Image.open(io.BytesIO(data))
        frames = getattr(image, "n_frames", 1)
        if frames > settings.ocr_max_pages:
            raise InvalidInput.about(field, f"{frames} pages; at most {settings.ocr_max_pages}")
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            width, height = frame.size
            if width * height > settings.ocr_max_pixels_per_page:
                raise InvalidInput.about(
                    field,
                    f"page {number} is {width}x{height} pixels, more than "
                    f"{settings.ocr_max_pixels_per_page} (a decompression bomb?)",
                )
            yield frame.convert("L")  # decodes the page: a broken one fails here
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (far above ours) when opening; a warning only where
        # warnings are errors.
        raise InvalidInput.about(field, f"image too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, UserWarning) as exc:
        # (Pillow warns about corrupt metadata; where warnings are errors that is one too.)
        problem = f"the image file is broken or unreadable ({type(exc).__name__})"
        raise InvalidInput.about(field, problem) from exc


def _pdf_pages(data: bytes, settings: Settings, field: str) -> Iterator[Image.Image]:
    """Each page rendered, one at a time (a page in memory, not the document)."""
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise InvalidInput.about(field, f"the PDF is broken or unreadable: {exc}") from exc
        try:
            count = len(document)
            if count == 0:
                raise InvalidInput.about(field, "the PDF has no pages")
            if count > settings.ocr_max_pages:
                raise InvalidInput.about(field, f"{count} pages; at most {settings.ocr_max_pages}")
            for index in range(count):
                page = document[index]
                try:
                    width, height = page.get_size()  # points (1/72 inch)
                    if width <= 0 or height <= 0:
                        raise InvalidInput.about(field, f"page {index + 1} has no area")
                    scale = settings.ocr_pdf_dpi / 72
                    pixels = width * scale * height * scale
                    if pixels > settings.ocr_max_pixels_per_page:
                        scale *= (settings.ocr_max_pixels_per_page / pixels) ** 0.5
                    image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
                finally:
                    page.close()
                yield image
        except pdfium.PdfiumError as exc:
            raise InvalidInput.about(field, f"the PDF is broken or unreadable: {exc}") from exc
        finally:
            document.close()


def _join_words(words: list[str]) -> str:
    """Tesseract splits Chinese into one "word" per character: no spaces between
    CJK characters, one space between Latin words."""
    out = ""
    for word in words:
        if out and not (_is_cjk(out[-1]) or _is_cjk(word[0])):
            out += " "
        out += word
    return out


def _is_cjk(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _read_page(image: Image.Image, settings: Settings) -> tuple[list[str], list[float]]:
    data = pytesseract.image_to_data(
        image,
        lang=settings.ocr_languages,
        output_type=pytesseract.Output.DICT,
        timeout=settings.ocr_timeout_s,
    )
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences: list[float] = []
    for index, text in enumerate(data["text"]):
        word = (text or "").strip()
        confidence = float(data["conf"][index])
        if not word or confidence < 0:
            continue
        key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
        lines.setdefault(key, []).append(word)
        confidences.append(confidence)
    return [_join_words(words) for words in lines.values()], confidences


def read_document(data: bytes, content_type: str, settings: Settings, field: str) -> OcrResult:
    """Blocking: decode and OCR every page (call :func:`ocr_document` from async code)."""
    if content_type == "application/pdf":
        pages = _pdf_pages(data, settings, field)
    elif content_type in OCR_TYPES:
        pages = _raster_pages(data, settings, field)
    else:
        raise InvalidInput.about(
            field, f"cannot read text from {content_type}; send TIFF, PDF or an image"
        )
    lines: list[str] = []
    confidences: list[float] = []
    count = 0
    with contextlib.closing(pages):  # releases the PDF lock even when a page fails
        for page in pages:
            count += 1
            try:
                page_lines, page_confidences = _read_page(page, settings)
            except pytesseract.TesseractNotFoundError:
                # No OCR on this machine: the document is still filed, and it goes
                # to the transcription queue like a page Tesseract could not read.
                log.warning("tesseract is not installed; the document waits for a person")
                page_lines, page_confidences = [], []
            except pytesseract.TesseractError:
                # Tesseract gave up on the page: nothing read, a person will transcribe it.
                page_lines, page_confidences = [], []
            except RuntimeError as exc:  # pytesseract's timeout
                raise InvalidInput.about(field, f"page {count} could not be read in time") from exc
            lines.extend(page_lines)
            confidences.extend(page_confidences)
    text = "\n".join(lines)
    confidence = sum(confidences) / len(confidences) if confidences else 0.0
    return OcrResult(text=text, confidence=round(confidence, 1), pages=count)


async def ocr_document(
    data: bytes, content_type: str, settings: Settings, *, field: str = "document"
) -> OcrResult:
    """Read ``data`` in a worker thread, at most ``settings.ocr_concurrency`` at once."""
    key = (id(asyncio.get_running_loop()), settings.ocr_concurrency)
    semaphore = _SEMAPHORES.get(key)
    if semaphore is None:
        semaphore = _SEMAPHORES[key] = asyncio.Semaphore(settings.ocr_concurrency)
    async with semaphore:
        return await asyncio.to_thread(read_document, data, content_type, settings, field)
