"""Reading faxes and scanned letters: TIFF/PDF/image pages → text + how sure we are.

The way fax machines send them (measured on a corpus of generated faxes:
``bench/bench_fax.py``, figures in ``bench/RESULTS.md``):

1. **Every page's declared size is checked before any page is decoded** — all
   TIFF frames' headers, all PDF pages' boxes — so a decompression bomb on
   page 2 is refused in milliseconds, not after page 1's OCR.
2. A **PDF with a text layer** is read from it (PDFium), page by page; only
   pages without one are rendered and OCR'd.
3. **Aspect**: a standard-resolution fax is 204×98 dpi, each pixel twice as
   tall as wide; the page is stretched to square pixels from the TIFF's
   XResolution/YResolution (any ResolutionUnit) before OCR.
4. **Despeckle**: isolated specks and streaks down the whole page (dirt on the
   sender's scanner glass) are removed.
5. **Deskew**: the skew (a sheet fed crooked, up to ±5°) is found from the
   projection profile of a reduced page and rotated out.
6. **Binarize**: Otsu's threshold on the corrected page — measured, and off by
   default: Tesseract's LSTM reads the grey edges of a corrected page better.
7. Tesseract (``pytesseract``, ``-l chi_sim+eng``) reads words with their
   confidences; the fax machine's header line (``FROM: … P.001/002``) is
   recognised and kept apart as metadata, never as the letter's text; key
   fields that miss their shape by a lookalike character are put right
   (:func:`tousu_intake.domain.fax.correct_key_fields`).
8. **Key fields read again**: each labelled value's crop, 2× and smoothed, in
   one English-only, whitelisted Tesseract run per page; a third read where that
   and the page's disagree; the value the reads agree on is kept
   (:func:`reread_key_fields`).

Each step can be switched off (:class:`Preprocess`) so the bench measures it.
Tesseract runs in a worker thread, at most ``ocr_concurrency`` documents at
once, each process with ``OMP_THREAD_LIMIT=1`` (3–5x faster on a small
machine, same output).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytesseract
from PIL import Image, ImageChops, ImageFilter, ImageStat, UnidentifiedImageError

from tousu_common.errors import InvalidInput
from tousu_intake.config import Settings
from tousu_intake.domain.fax import (
    FaxHeader,
    ReadQuality,
    correct_key_fields,
    key_field_labels,
    parse_fax_header,
    read_quality,
    same_key_value,
    vote_key_value,
)

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

#: A PDF page whose text layer has fewer characters than this is OCR'd instead.
MIN_TEXT_LAYER_CHARS = 20
#: Lines in the top share of a page are where a fax machine prints its header.
HEADER_BAND = 0.06


@dataclass(frozen=True)
class Preprocess:
    """The steps before OCR, each on by default (the bench turns them off one by one)."""

    aspect: bool = True
    despeckle: bool = True
    deskew: bool = True
    binarize: bool = False  # measured: Tesseract's LSTM reads grey edges better
    text_layer: bool = True
    reread: bool = True  # key fields' values read again on their own


@dataclass(frozen=True)
class PageInfo:
    number: int
    source: str  # "ocr" or "text_layer"
    dpi: tuple[float, float] | None = None
    skew: float = 0.0  # degrees corrected


@dataclass(frozen=True)
class OcrResult:
    text: str  # the letter's text, fax header lines left out
    confidence: float  # mean confidence per character read, 0–100 (0 when none)
    pages: int
    headers: list[FaxHeader] = field(default_factory=list)
    page_info: list[PageInfo] = field(default_factory=list)
    quality: ReadQuality | None = None
    #: Key fields put right to their shape (a lookalike character), as "old → new".
    corrections: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        sources = {page.source for page in self.page_info}
        return sources.pop() if len(sources) == 1 else "mixed"

    def metadata(self) -> dict[str, object]:
        """What is kept on the document's attachment row."""
        first = self.headers[0] if self.headers else None
        return {
            "read_from": self.source,
            "pages": self.pages,
            "confidence": self.confidence,
            "fax_header": first.as_dict() if first else None,
            "fax_headers": [h.as_dict() for h in self.headers],
            "key_field_corrections": self.corrections,
            "page_info": [
                {"page": p.number, "source": p.source, "dpi": p.dpi, "skew": p.skew}
                for p in self.page_info
            ],
        }


Box = tuple[int, int, int, int]  # left, top, right, bottom (pixels)


@dataclass
class _Line:
    words: list[tuple[str, float]]
    top: float  # share of the page height
    boxes: list[Box] = field(default_factory=list)  # each word's, when known

    @property
    def text(self) -> str:
        return _join_words([w for w, _ in self.words])


# ---------------------------------------------------------------- pages, checked first


def _dpi(frame: Image.Image) -> tuple[float, float] | None:
    """(x, y) resolution in any unit (only the ratio matters); None if not declared."""
    dpi = frame.info.get("dpi") or frame.info.get("resolution")
    try:
        x, y = float(dpi[0]), float(dpi[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _aspect(dpi: tuple[float, float] | None) -> float:
    """How much taller each pixel is than wide (2.08 for a 204×98 fax); 1 if unknown
    or absurd."""
    if dpi is None:
        return 1.0
    ratio = dpi[0] / dpi[1]
    return ratio if 0.25 <= ratio <= 4 and abs(ratio - 1) > 0.1 else 1.0


def _check_raster(data: bytes, settings: Settings, field: str) -> Image.Image:
    """Open and check every frame's header (size, aspect, count); decode nothing."""
    image = Image.open(io.BytesIO(data))
    frames = getattr(image, "n_frames", 1)
    if frames > settings.ocr_max_pages:
        raise InvalidInput.about(field, f"{frames} pages; at most {settings.ocr_max_pages}")
    for index in range(frames):
        if frames > 1:
            image.seek(index)
        width, height = image.size
        pixels = width * height * max(1.0, _aspect(_dpi(image)))
        if pixels > settings.ocr_max_pixels_per_page:
            raise InvalidInput.about(
                field,
                f"page {index + 1} is {width}x{height} pixels, more than "
                f"{settings.ocr_max_pixels_per_page} (a decompression bomb?)",
            )
    if frames > 1:
        image.seek(0)
    return image


def _raster_pages(
    data: bytes, settings: Settings, field: str
) -> Iterator[tuple[Image.Image | str, tuple[float, float] | None]]:
    try:
        image = _check_raster(data, settings, field)
        for index in range(getattr(image, "n_frames", 1)):
            if index:
                image.seek(index)
            yield image.convert("L"), _dpi(image)  # decodes the page: a broken one fails here
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


def _pdf_pages(
    data: bytes, settings: Settings, field: str, use_text_layer: bool = True
) -> Iterator[tuple[Image.Image | str, tuple[float, float] | None]]:
    """Each page's text layer, or the page rendered (one page in memory at a time)."""
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
            scales = []
            for index in range(count):  # every page's box before any page is rendered
                page = document[index]
                try:
                    width, height = page.get_size()  # points (1/72 inch)
                    _check_pdf_images(page, settings, field, index + 1)
                finally:
                    page.close()
                if width <= 0 or height <= 0:
                    raise InvalidInput.about(field, f"page {index + 1} has no area")
                scale = settings.ocr_pdf_dpi / 72
                pixels = width * scale * height * scale
                if pixels > settings.ocr_max_pixels_per_page:
                    scale *= (settings.ocr_max_pixels_per_page / pixels) ** 0.5
                scales.append(scale)
            for index, scale in enumerate(scales):
                page = document[index]
                try:
                    text = _text_layer(page) if use_text_layer else ""
                    if text:
                        yield text, None
                        continue
                    scan = _sole_scan(page)
                    if scan is None:
                        image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
                        dpi = (scale * 72, scale * 72)
                    else:
                        image, dpi = scan
                finally:
                    page.close()
                yield image, dpi
        except pdfium.PdfiumError as exc:
            raise InvalidInput.about(field, f"the PDF is broken or unreadable: {exc}") from exc
        finally:
            document.close()


def _check_pdf_images(page: pdfium.PdfPage, settings: Settings, field: str, number: int) -> None:
    """The images on a page, by the size their dictionaries declare (nothing decoded):
    PDFium decodes an image whole whatever the scale it is rendered at."""
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        width, height = image.get_px_size()
        if width * height > settings.ocr_max_pixels_per_page:
            raise InvalidInput.about(
                field,
                f"page {number} holds a {width}x{height} pixel image, more than "
                f"{settings.ocr_max_pixels_per_page} (a decompression bomb?)",
            )


def _sole_scan(page: pdfium.PdfPage) -> tuple[Image.Image, tuple[float, float]] | None:
    """A gateway's image-only PDF: the page is one scan, which is read at its own
    resolution (a standard-resolution fax's tall pixels included) rather than
    re-sampled by rendering; None for any other page."""
    if page.get_rotation():
        return None
    objects = list(page.get_objects(max_depth=1))
    if len(objects) != 1 or objects[0].type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
        return None
    image = objects[0]
    left, bottom, right, top = image.get_bounds()
    page_width, page_height = page.get_size()
    if (right - left) * (top - bottom) < 0.9 * page_width * page_height:
        return None
    width, height = image.get_px_size()
    try:
        bitmap = image.get_bitmap(render=False).to_pil().convert("L")
    except (pdfium.PdfiumError, ValueError, OSError):
        return None
    if bitmap.size != (width, height):
        return None
    return bitmap, (width / ((right - left) / 72), height / ((top - bottom) / 72))


def _text_layer(page: pdfium.PdfPage) -> str:
    """The page's own text, if it has enough of it to be the letter (not a stray
    label on a scan)."""
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_bounded()
    finally:
        textpage.close()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    printable = [c for c in text if not c.isspace()]
    if len(printable) < MIN_TEXT_LAYER_CHARS:
        return ""
    junk = sum(1 for c in printable if unicodedata.category(c)[0] in "CZ" or c == "\ufffd")
    return text if junk <= len(printable) // 20 else ""


# ---------------------------------------------------------------- preprocessing


def correct_aspect(image: Image.Image, dpi: tuple[float, float] | None) -> Image.Image:
    """Square pixels: a 204×98 dpi page becomes twice as tall."""
    ratio = _aspect(dpi)
    if ratio == 1.0:
        return image
    size = (image.width, round(image.height * ratio))
    if ratio < 1:
        size = (round(image.width / ratio), image.height)
    return image.resize(size, Image.Resampling.BICUBIC)


def otsu_threshold(image: Image.Image) -> int:
    histogram = image.histogram()[:256]
    total = sum(histogram)
    sum_all = sum(i * h for i, h in enumerate(histogram))
    weight_b = sum_b = 0.0
    best, threshold = -1.0, 128
    for level, count in enumerate(histogram):
        weight_b += count
        if weight_b == 0:
            continue
        weight_f = total - weight_b
        if weight_f == 0:
            break
        sum_b += level * count
        mean_b = sum_b / weight_b
        mean_f = (sum_all - sum_b) / weight_f
        between = weight_b * weight_f * (mean_b - mean_f) ** 2
        if between > best:
            best, threshold = between, level
    return threshold


def binarize(image: Image.Image) -> Image.Image:
    threshold = otsu_threshold(image)
    return image.point(lambda p: 255 if p > threshold else 0)


def despeckle(image: Image.Image) -> Image.Image:
    """Remove specks (black pixels with at most 3 black neighbours in their 5×5
    window) and streaks (columns black down most of the page), on the page as it
    came: strokes of text are never that thin nor that long."""
    ink = ImageChops.invert(image.point(lambda p: 255 if p > 127 else 0))  # ink = 255
    # Streaks: a column that is ink over 60 % of the page is the scanner's, not the
    # writer's; paint it with its neighbour so strokes that cross it stay whole.
    columns = list(ink.resize((ink.width, 1), Image.Resampling.BOX).tobytes())
    streaks = [x for x, value in enumerate(columns) if value > 0.6 * 255]
    if streaks and len(streaks) < ink.width // 20:
        image = image.copy()
        for x in streaks:
            source = x - 1
            while source in streaks and source > 0:
                source -= 1
            strip = image.crop((source, 0, source + 1, image.height))
            image.paste(strip, (x, 0))
        ink = ImageChops.invert(image.point(lambda p: 255 if p > 127 else 0))
    density = ink.filter(ImageFilter.BoxBlur(2))  # mean ink over 5×5
    lonely = density.point(lambda v: 255 if v <= 4 * 255 // 25 + 1 else 0)  # ≤ 4 of 25
    return ImageChops.lighter(image, lonely)


def estimate_skew(image: Image.Image, limit: float = 5.0) -> float:
    """The rotation (degrees, counter-clockwise positive) that makes text lines
    level: the one whose horizontal projection profile is sharpest, on a reduced
    page."""
    small = ImageChops.invert(image.reduce(2) if image.width > 1000 else image)

    def sharpness(angle: float) -> float:
        rotated = small.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0)
        profile = rotated.resize((1, rotated.height), Image.Resampling.BOX)
        return ImageStat.Stat(profile).var[0]

    def best(candidates: list[float]) -> float:
        return max(candidates, key=sharpness)

    coarse = best([a / 2 for a in range(int(-2 * limit), int(2 * limit) + 1)])
    return best([coarse + a / 10 for a in range(-4, 5)])


def header_band(image: Image.Image) -> int:
    """Rows at the top that hold a line of their own (a fax machine's header: it is
    printed by the machine, never skewed), 0 if none: ink within the top
    ``HEADER_BAND`` of the page followed by a blank row before the letter."""
    limit = max(1, int(image.height * HEADER_BAND))
    top = ImageChops.invert(image.crop((0, 0, image.width, limit)))
    rows = list(top.resize((1, limit), Image.Resampling.BOX).tobytes())
    inked = [value > 0.4 for value in rows]  # more than a speck or two
    if True not in inked:
        return 0
    first = inked.index(True)
    for row in range(first, limit):
        if not inked[row] and row + 3 < limit and not any(inked[row : row + 4]):
            return row
    return 0


def deskew(image: Image.Image) -> tuple[Image.Image, float]:
    """Rotate the letter level; a header band on top stays as the machine printed it."""
    band = header_band(image)
    body = image.crop((0, band, image.width, image.height)) if band else image
    angle = estimate_skew(body)
    if abs(angle) < 0.2:
        return image, 0.0
    body = body.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    if not band:
        return body, angle
    out = image.copy()
    out.paste(body, (0, band))
    return out, angle


def prepare(
    image: Image.Image, dpi: tuple[float, float] | None, steps: Preprocess
) -> tuple[Image.Image, float]:
    """The page as Tesseract should see it, and the skew corrected."""
    angle = 0.0
    if steps.aspect:
        image = correct_aspect(image, dpi)
    if steps.despeckle:
        image = despeckle(image)
    if steps.deskew:
        image, angle = deskew(image)
    if steps.binarize:
        image = binarize(image)
    return image, angle


# ---------------------------------------------------------------- reading


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


def _read_page(image: Image.Image, settings: Settings) -> list[_Line]:
    data = pytesseract.image_to_data(
        image,
        lang=settings.ocr_languages,
        output_type=pytesseract.Output.DICT,
        timeout=settings.ocr_timeout_s,
    )
    lines: dict[tuple[int, int, int], _Line] = {}
    height = max(1, image.height)
    for index, text in enumerate(data["text"]):
        word = (text or "").strip()
        confidence = float(data["conf"][index])
        if not word or confidence < 0:
            continue
        key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
        line = lines.get(key)
        if line is None:
            line = lines[key] = _Line([], data["top"][index] / height)
        line.words.append((word, confidence))
        left, top = data["left"][index], data["top"][index]
        line.boxes.append((left, top, left + data["width"][index], top + data["height"][index]))
    return list(lines.values())


def _split_header(lines: list[_Line]) -> tuple[FaxHeader | None, list[_Line]]:
    """The fax machine's header among the page's top lines, and the rest."""
    for index, line in enumerate(lines[:3]):
        if line.top > HEADER_BAND:
            break
        header = parse_fax_header(line.text)
        if header is not None:
            return header, lines[:index] + lines[index + 1 :]
    return None, lines


def _header_of_page(
    image: Image.Image, lines: list[_Line], settings: Settings
) -> tuple[FaxHeader | None, list[_Line]]:
    """The fax header and the letter's lines. The header is small print in Latin
    letters and digits, so its band is read again on its own as one line of English
    (``chi_sim`` turns its digits into characters); the page's read of it is dropped."""
    band = header_band(image)
    if band:
        strip = Image.new("L", (image.width + 40, band + 40), 255)  # Tesseract wants a margin
        strip.paste(image.crop((0, 0, image.width, band)), (20, 20))
        try:
            line = pytesseract.image_to_string(
                strip, lang="eng", config="--psm 7", timeout=settings.ocr_timeout_s
            )
        except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, RuntimeError):
            line = ""
        header = parse_fax_header(line)
        if header is not None:
            below = (band + 2) / max(1, image.height)
            return header, [line for line in lines if line.top >= below]
    return _split_header(lines)


# ---------------------------------------------------------------- key fields, read again

#: What a key field's value can hold: part and serial numbers, phone numbers, amounts.
KEY_FIELD_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+-.,()"
#: At most this many words after a label make its value.
_VALUE_WORDS = 6


def _offsets(words: list[str]) -> list[int]:
    """Where each word starts in :func:`_join_words`' text."""
    starts, length = [], 0
    for index, word in enumerate(words):
        if index and not (_is_cjk(words[index - 1][-1]) or _is_cjk(word[0])):
            length += 1
        starts.append(length)
        length += len(word)
    return starts


def _value_word(word: str) -> bool:
    """A word that can be (part of) a key field's value as OCR reads it: no Chinese,
    and a digit in it or short (a currency, a misread group)."""
    return not any(_is_cjk(c) for c in word) and (any(c.isdigit() for c in word) or len(word) <= 3)


@dataclass
class _Value:
    line: _Line
    name: str
    first: int  # the value's words: line.words[first:last]
    last: int
    prefix: str  # what of the first word is still the label ("P/N:" of "P/N:4989-…")
    box: Box

    @property
    def text(self) -> str:
        words = [w for w, _ in self.line.words[self.first : self.last]]
        words[0] = words[0][len(self.prefix) :]
        return " ".join(w for w in words if w)


def _values(lines: list[_Line], image: Image.Image) -> list[_Value]:
    """The words that hold a labelled key field's value on each line, and their box."""
    out = []
    for line in lines:
        if len(line.boxes) != len(line.words):
            continue
        words = [w for w, _ in line.words]
        starts = _offsets(words)
        for name, offset in key_field_labels(line.text):
            first = next(
                (i for i, s in enumerate(starts) if s + len(words[i]) > offset), len(words)
            )
            if first == len(words):
                continue
            prefix = words[first][: max(0, offset - starts[first])]
            last = first
            while (
                last < len(words)
                and last - first < _VALUE_WORDS
                and _value_word(words[last][len(prefix) :] if last == first else words[last])
            ):
                last += 1
            while last > first and not any(c.isdigit() for c in words[last - 1]):
                last -= 1  # a value ends in a digit
            if last == first:
                continue
            left, _, _, _ = line.boxes[first]
            if prefix:  # the label's share of a glued word, by its characters
                box = line.boxes[first]
                left += round((box[2] - box[0]) * len(prefix) / len(words[first]))
            right = max(b[2] for b in line.boxes[first:last])
            top = min(b[1] for b in line.boxes[first:last])
            bottom = max(b[3] for b in line.boxes[first:last])
            pad = max(3, (bottom - top) // 6)  # not into the lines above and below
            out.append(
                _Value(
                    line, name, first, last, prefix,
                    (
                        max(0, left - pad),
                        max(0, top - pad),
                        min(image.width, right + pad),
                        min(image.height, bottom + pad),
                    ),
                )
            )  # fmt: skip
    return out


def _reread_values(
    image: Image.Image, values: list[_Value], settings: Settings, scale: float, blur: float
) -> list[str]:
    """Each value's crop, stacked on one strip and read in one Tesseract run: English
    only, one block, a character whitelist (no Chinese model turning digits into
    characters, no lower-case ``l`` for ``1``). ``scale`` and ``blur`` are applied
    to each crop first."""
    margin = 20
    crops = []
    for value in values:
        crop = image.crop(value.box)
        if scale != 1:
            size = (round(crop.width * scale), round(crop.height * scale))
            crop = crop.resize(size, Image.Resampling.BICUBIC)
        if blur:
            crop = crop.filter(ImageFilter.GaussianBlur(blur))
        crops.append(crop)
    gap = max(c.height for c in crops)
    width = max(c.width for c in crops) + 2 * margin
    height = margin * 2 + sum(c.height for c in crops) + gap * (len(crops) - 1)
    strip = Image.new("L", (width, height), 255)
    slots = []
    y = margin
    for crop in crops:
        strip.paste(crop, (margin, y))
        slots.append((y - gap // 2, y + crop.height + gap // 2))
        y += crop.height + gap
    data = pytesseract.image_to_data(
        strip,
        lang="eng",
        config=f"--psm 6 -c tessedit_char_whitelist={KEY_FIELD_CHARS}",
        output_type=pytesseract.Output.DICT,
        timeout=settings.ocr_timeout_s,
    )
    found: list[list[tuple[int, str]]] = [[] for _ in crops]
    for index, text in enumerate(data["text"]):
        word = (text or "").strip()
        if not word or float(data["conf"][index]) < 0:
            continue
        middle = data["top"][index] + data["height"][index] / 2
        for slot, (low, high) in enumerate(slots):
            if low <= middle < high:
                found[slot].append((data["left"][index], word))
                break
    return [" ".join(w for _, w in sorted(words)) for words in found]


#: How a value's crop is read again: first twice the size and smoothed (a
#: standard-resolution fax's strokes are broken by every other scan line
#: missing; handwriting is thin), then — only for a value this read and the
#: page's disagree on — as it is, to break the tie.
REREADS = ((2.0, 1.0), (1.0, 0.0))


def reread_key_fields(image: Image.Image, lines: list[_Line], settings: Settings) -> list[str]:
    """Read each labelled key field's value again on its own and keep the value the
    reads agree on (:func:`tousu_intake.domain.fax.vote_key_value`); the lines are
    changed in place, the words keeping the page's confidence. Returns what
    changed (``"phone: +86 28 8899 5614 → +862888995611 (read again)"``)."""
    values = _values(lines, image)
    reads: list[list[str]] = [[] for _ in values]
    pending = list(range(len(values)))
    for scale, blur in REREADS:
        if not pending:
            break
        try:
            again = _reread_values(image, [values[i] for i in pending], settings, scale, blur)
        except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, RuntimeError):
            break
        for i, text in zip(pending, again, strict=True):
            reads[i].append(text)
        pending = [
            i for i in pending if not same_key_value(values[i].name, values[i].text, reads[i][0])
        ]
    changes = []
    # Last first, so that a line's earlier values keep their word indexes.
    for index in sorted(range(len(values)), key=lambda i: -values[i].first):
        value = values[index]
        first = value.text
        chosen = vote_key_value(value.name, first, [r for r in reads[index] if r])
        if chosen is None:
            continue
        line = value.line
        confidence = min(c for _, c in line.words[value.first : value.last])
        tokens = chosen.split()
        tokens[0] = value.prefix + tokens[0]
        line.words[value.first : value.last] = [(t, confidence) for t in tokens]
        line.boxes[value.first : value.last] = [value.box] * len(tokens)
        changes.append(f"{value.name}: {first} → {chosen} (read again)")
    return changes[::-1]


def _text_layer_lines(text: str) -> list[_Line]:
    rows = [row.strip() for row in text.split("\n")]
    return [_Line([(row, 100.0)], 0.0 if i == 0 else 1.0) for i, row in enumerate(rows) if row]


def read_document(
    data: bytes,
    content_type: str,
    settings: Settings,
    field: str,
    steps: Preprocess = Preprocess(),
    reader: Callable[[Image.Image, Settings], list[_Line]] = _read_page,
) -> OcrResult:
    """Blocking: check, decode and read every page (call :func:`ocr_document` from
    async code)."""
    if content_type == "application/pdf":
        pages = _pdf_pages(data, settings, field, steps.text_layer)
    elif content_type in OCR_TYPES:
        pages = _raster_pages(data, settings, field)
    else:
        raise InvalidInput.about(
            field, f"cannot read text from {content_type}; send TIFF, PDF or an image"
        )
    texts: list[str] = []
    ocr_texts: list[str] = []  # key fields are checked where OCR could have misread them
    corrections: list[str] = []
    words: list[tuple[str, float]] = []
    headers: list[FaxHeader] = []
    info: list[PageInfo] = []
    try:
        for number, (page, dpi) in enumerate(pages, start=1):
            if isinstance(page, str):
                lines, source, angle = _text_layer_lines(page), "text_layer", 0.0
                header, lines = _split_header(lines)
            else:
                prepared, angle = prepare(page, dpi, steps)
                lines, source = _ocr_page(prepared, settings, field, number, reader), "ocr"
                header, lines = _header_of_page(prepared, lines, settings)
                if steps.reread:
                    corrections.extend(reread_key_fields(prepared, lines, settings))
            if header is not None:
                headers.append(header)
            page_text = "\n".join(line.text for line in lines if line.text.strip())
            if source == "ocr":
                page_text, changes = correct_key_fields(page_text)
                corrections.extend(changes)
                ocr_texts.append(page_text)
            texts.append(page_text)
            words.extend(word for line in lines for word in line.words)
            info.append(PageInfo(number, source, dpi, round(angle, 2)))
    finally:
        pages.close()  # releases the PDF lock even when a page fails
    text = "\n".join(t for t in texts if t.strip())
    quality = read_quality(words, "\n".join(ocr_texts))
    return OcrResult(
        text=text,
        confidence=round(quality.mean_confidence, 1),
        pages=len(info),
        headers=headers,
        page_info=info,
        quality=quality,
        corrections=corrections,
    )


def _ocr_page(
    image: Image.Image,
    settings: Settings,
    field: str,
    number: int,
    reader: Callable[[Image.Image, Settings], list[_Line]],
) -> list[_Line]:
    try:
        return reader(image, settings)
    except pytesseract.TesseractNotFoundError:
        # No OCR on this machine: the document is still filed, and it goes to the
        # transcription queue like a page Tesseract could not read.
        log.warning("tesseract is not installed; the document waits for a person")
    except pytesseract.TesseractError:
        pass  # Tesseract gave up on the page: nothing read, a person will type it
    except RuntimeError as exc:  # pytesseract's timeout
        raise InvalidInput.about(field, f"page {number} could not be read in time") from exc
    return []


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
