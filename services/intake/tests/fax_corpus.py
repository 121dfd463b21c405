"""Realistic faxes made by code, with the text that was printed on them.

A fax machine scans a letter at 204 dpi across and either 196 lines per inch
("fine") or 98 ("standard": every pixel twice as tall as it is wide), sends it
as CCITT group 3 or 4 and stamps its own header line on top of each page
(``FROM: +86 21 5555 1234   2027-03-02 10:14   P.001/002``). What arrives is
skewed (the sheet went in crooked), speckled, streaked (dirt on the scanner
glass draws a line down the whole page), with lines that faded (a dry ribbon,
light pencil) and scan lines lost in transmission. Some letters are
handwritten — here, set in a handwriting-style font (AR PL KaitiM GB from
Debian's ``fonts-arphic-gkai00mp`` for Chinese, Comic Neue from
``fonts-comic-neue`` for English; without them the generator falls back to
WenQuanYi Zen Hei and says so in :attr:`Fax.font`). A gateway may also hand
over a PDF: an image-only PDF of the scan, or a PDF with a text layer (a
letter "printed" to PDF).

Everything is derived from a :class:`FaxSpec` and a seed, so the same spec
gives the same bytes; :func:`cached` keeps them under a directory by a hash of
the spec and this file, so tests regenerate only what changed.

Used by intake's fax tests and by ``bench/bench_fax.py``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import io
import json
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

from PIL import Image, ImageChops, ImageDraw, ImageFont

SANS = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
KAI = "/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf"
COMIC = "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # a plain zero, as most machines print

#: Fax page: 1728 pixels across 215 mm at 204 dpi; A4 is 297 mm long.
FAX_WIDTH = 1728
FINE_DPI = (204, 196)
STANDARD_DPI = (204, 98)
A4_MM = 297


@dataclass(frozen=True)
class FaxSpec:
    """How one fax is made. ``kind``: ``tiff`` (``compression`` group3/group4),
    ``pdf-image`` (the scan in a PDF) or ``pdf-text`` (a PDF with a text layer)."""

    name: str
    seed: int = 1
    pages: int = 1
    resolution: str = "fine"  # or "standard"
    kind: str = "tiff"
    compression: str = "group4"
    skew: float = 0.0  # degrees, + is counter-clockwise
    specks: float = 0.0  # share of the page's pixels turned black at random
    streaks: int = 0  # vertical lines down the whole page
    faded_lines: int = 0  # text lines printed faint
    dropouts: int = 0  # scan lines lost in transmission (white lines across)
    handwriting: bool = False
    header: bool = True
    font_pt: float = 12.0
    page_mm: float = A4_MM


@dataclass(frozen=True)
class KeyFields:
    part_number: str
    serial_number: str
    phone: str
    amount: str

    def values(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Fax:
    spec: FaxSpec
    data: bytes
    content_type: str
    #: What was printed on each page, the fax header excluded.
    pages_text: list[str]
    title: str
    fields: KeyFields
    header_number: str
    header_time: str  # as printed: 2027-03-02 10:14
    font: str
    filename: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.pages_text)


# ---------------------------------------------------------------- the letters

_PRODUCTS = [
    ("YC6L 发动机", "YC6L engine"),
    ("6T46 变速箱", "6T46 gearbox"),
    ("HD90 驱动桥", "HD90 drive axle"),
    ("EQ153 空调压缩机", "EQ153 A/C compressor"),
    ("K2000 起动机", "K2000 starter motor"),
    ("QJ705 转向机", "QJ705 steering gear"),
]
_PROBLEMS = [
    ("漏油", "is leaking oil"),
    ("异响严重", "makes a loud knocking noise"),
    ("无法启动", "will not start"),
    ("过热报警", "overheats and raises an alarm"),
    ("频繁跳档", "jumps out of gear"),
]
_COMPANIES = [
    "潍坊运输有限公司",
    "上海浦东物流公司",
    "成都天府客运集团",
    "广州南方工程机械厂",
    "武汉长江建材有限公司",
]
_PEOPLE = ["张伟", "王芳", "李强", "刘洋", "陈静", "杨军"]
_CITIES = ["上海", "北京", "广州", "成都", "武汉", "潍坊"]
_EXTRA_ZH = [
    "车辆已停运，严重影响我公司正常生产经营。",
    "此前已联系当地服务站，但问题至今未解决。",
    "请贵公司尽快派技术人员到现场检查处理。",
    "我们要求更换故障零件并赔偿停运损失。",
    "附件为维修记录和发票复印件，请查收。",
    "如有疑问请随时与我联系，谢谢！",
]
_EXTRA_EN = [
    "The vehicle has been out of service since last Monday.",
    "Your local service station could not repair it.",
    "Please send an engineer to our site as soon as possible.",
    "We ask for a replacement part and compensation for the downtime.",
    "Copies of the repair record and invoice are enclosed.",
]


def _part_number(rng: random.Random) -> str:
    suffix = f"{rng.choice('ABCDEK')}{rng.randint(1, 9)}"
    return f"{rng.randint(1000, 9999)}-{rng.randint(10000, 99999)}-{suffix}"


def _serial(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    return f"{letters}{rng.randint(2025, 2027)}{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}"


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        prefix = f"1{rng.choice('3589')}{rng.randint(0, 9)}"
        return f"{prefix} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    area = rng.choice(["21", "10", "20", "28", "27", "536"])
    return f"+86 {area} {rng.randint(5000, 8999)} {rng.randint(1000, 9999)}"


def _amount(rng: random.Random) -> str:
    value = rng.randint(8, 990) * 100 + rng.choice([0, 50])
    return f"RMB {value:,}.00"


def letter(seed: int, pages: int) -> tuple[list[list[str]], KeyFields]:
    """The lines of a complaint letter, page by page, and its key fields."""
    rng = random.Random(seed)
    (product_zh, product_en), (problem_zh, problem_en) = (
        rng.choice(_PRODUCTS),
        rng.choice(_PROBLEMS),
    )
    fields = KeyFields(_part_number(rng), _serial(rng), _phone(rng), _amount(rng))
    company, person, city = rng.choice(_COMPANIES), rng.choice(_PEOPLE), rng.choice(_CITIES)
    month, day = rng.randint(1, 3), rng.randint(1, 28)
    first = [
        f"关于{product_zh}{problem_zh}的投诉",
        "尊敬的客户服务中心：",
        f"我公司于2027年{month}月{day}日购买的{product_zh}，使用中{problem_zh}。",
        f"Our {product_en} {problem_en}.",
        f"零件号 P/N: {fields.part_number}",
        f"序列号 S/N: {fields.serial_number}",
        *rng.sample(_EXTRA_ZH, 2),
        rng.choice(_EXTRA_EN),
        f"索赔金额 Amount: {fields.amount}",
        f"联系人：{person}  电话 Tel: {fields.phone}",
        f"{company}  {city}",
    ]
    out = [first]
    for number in range(2, pages + 1):
        out.append(
            [
                f"第{number}页：补充说明",
                *rng.sample(_EXTRA_ZH, 3),
                *rng.sample(_EXTRA_EN, 2),
                f"故障零件号 P/N: {fields.part_number}",
                f"请回电 Tel: {fields.phone}",
            ]
        )
    return out, fields


# ---------------------------------------------------------------- the images


def _font_path(path: str) -> str | None:
    return path if Path(path).is_file() else None


def _fonts(spec: FaxSpec, size: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont, str]:
    """(Chinese font, Latin font, description); handwriting falls back to the sans."""
    sans = ImageFont.truetype(SANS, size)
    if spec.handwriting:
        kai, comic = _font_path(KAI), _font_path(COMIC)
        if kai:
            latin = ImageFont.truetype(comic, size) if comic else ImageFont.truetype(kai, size)
            return ImageFont.truetype(kai, size), latin, "handwriting"
        return sans, sans, "sans (handwriting font missing)"
    return sans, sans, "sans"


def _draw_line(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    cjk: ImageFont.FreeTypeFont,
    latin: ImageFont.FreeTypeFont,
    fill: int,
) -> None:
    """Chinese runs in the Chinese font, the rest in the Latin one."""
    x, y = xy
    run = ""
    run_cjk = False
    for char in text + "\0":
        is_cjk = unicodedata.east_asian_width(char) in ("W", "F")
        if char == "\0" or (run and is_cjk != run_cjk):
            font = cjk if run_cjk else latin
            draw.text((x, y), run, font=font, fill=fill)
            x += font.getlength(run)
            run = ""
        run_cjk = is_cjk
        run += char


def _header_image(number: str, when: str, page: int, pages: int, width: int) -> Image.Image:
    """The sending machine's header: crisp, small, never skewed."""
    strip = Image.new("L", (width, 40), 255)
    font = ImageFont.truetype(MONO, 22) if Path(MONO).is_file() else ImageFont.load_default()
    text = f"FROM: {number}   {when}   P.{page:03d}/{pages:03d}"
    ImageDraw.Draw(strip).text((40, 8), text, font=font, fill=0)
    return strip


def _page_image(spec: FaxSpec, lines: list[str], rng: random.Random) -> tuple[Image.Image, str]:
    """One page at fine resolution, greyscale, skewed and degraded; then 1-bit."""
    height = round(spec.page_mm / 25.4 * FINE_DPI[1])
    image = Image.new("L", (FAX_WIDTH, height), 255)
    draw = ImageDraw.Draw(image)
    size = round(spec.font_pt / 72 * FINE_DPI[1])
    cjk, latin, font_name = _fonts(spec, size)
    faded = set(rng.sample(range(len(lines)), min(spec.faded_lines, len(lines))))
    y = 150.0
    for index, line in enumerate(lines):
        jitter = rng.uniform(-6, 6) if spec.handwriting else 0
        fill = rng.randint(95, 115) if index in faded else 0
        _draw_line(draw, (130 + jitter, y), line, cjk, latin, fill)
        y += size * (1.9 if spec.handwriting else 1.6)
    if spec.skew:
        image = image.rotate(spec.skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    # Scanner noise, then the machine's threshold to black and white.
    noise = _noise(image.size, 18.0, rng)
    image = ImageChops.add(image, noise)
    bw = image.point(lambda p: 255 if p > 140 else 0)
    return bw, font_name


def _noise(size: tuple[int, int], sigma: float, rng: random.Random) -> Image.Image:
    """Half-normal brightening per pixel, from the seeded generator (Pillow's
    ``effect_noise`` follows C's ``rand()``, so a spec would not give the same bytes)."""
    uniform = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    normal = NormalDist(0, sigma)
    return uniform.point([max(0, round(normal.inv_cdf((u + 0.5) / 256))) for u in range(256)])


def _degrade(spec: FaxSpec, page: Image.Image, rng: random.Random) -> Image.Image:
    """Specks and streaks (on the sender's glass) after the scan."""
    width, height = page.size
    draw = ImageDraw.Draw(page)
    for _ in range(round(spec.specks * width * height / 4)):
        x, y = rng.randrange(width - 2), rng.randrange(height - 2)
        draw.rectangle((x, y, x + rng.randint(0, 1), y + rng.randint(0, 1)), fill=0)
    for _ in range(spec.streaks):
        x = rng.randrange(100, width - 100)
        draw.rectangle((x, 0, x + rng.randint(0, 2), height), fill=0)
    return page


def _transmit(spec: FaxSpec, page: Image.Image, rng: random.Random) -> Image.Image:
    """Standard resolution keeps every other scan line; lines can drop out."""
    if spec.resolution == "standard":
        page = page.resize((page.width, page.height // 2), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(page)
    for _ in range(spec.dropouts):
        y = rng.randrange(120, page.height - 10)
        draw.rectangle((0, y, page.width, y + rng.randint(0, 1)), fill=255)
    return page.convert("1")


def fax_pages(spec: FaxSpec) -> tuple[list[Image.Image], Fax]:
    """The transmitted pages (1-bit) and a :class:`Fax` without bytes yet."""
    rng = random.Random(f"{spec.seed}:{spec.name}")
    pages_lines, fields = letter(spec.seed, spec.pages)
    number = "+86 21 5555 " + f"{rng.randint(1000, 9999)}"
    when = f"2027-03-{rng.randint(1, 28):02d} {rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}"
    images: list[Image.Image] = []
    font_name = "sans"
    for index, lines in enumerate(pages_lines, start=1):
        page, font_name = _page_image(spec, lines, rng)
        page = _degrade(spec, page, rng)
        if spec.header:
            page.paste(_header_image(number, when, index, spec.pages, page.width), (0, 0))
        images.append(_transmit(spec, page, rng))
    fax = Fax(
        spec=spec,
        data=b"",
        content_type="",
        pages_text=["\n".join(lines) for lines in pages_lines],
        title=pages_lines[0][0],
        fields=fields,
        header_number=number,
        header_time=when,
        font=font_name,
    )
    return images, fax


def _dpi(spec: FaxSpec) -> tuple[int, int]:
    return FINE_DPI if spec.resolution == "fine" else STANDARD_DPI


def tiff_bytes(pages: list[Image.Image], dpi: tuple[int, int], compression: str) -> bytes:
    buffer = io.BytesIO()
    first, *rest = [page.copy() for page in pages]
    first.save(buffer, "TIFF", compression=compression, dpi=dpi, save_all=True, append_images=rest)
    return buffer.getvalue()


def image_pdf_bytes(pages: list[Image.Image], dpi: tuple[int, int]) -> bytes:
    """The scan in a PDF, each page as large as the paper (non-square pixels too)."""
    buffer = io.BytesIO()
    first, *rest = [page.copy() for page in pages]
    first.save(buffer, "PDF", save_all=True, append_images=rest, dpi=dpi)
    return buffer.getvalue()


def text_pdf_bytes(pages_lines: list[list[str]], header: list[str] | None = None) -> bytes:
    """A letter "printed" to PDF: real text objects PDFium can extract."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    font_file = next((p for p in (KAI, SANS) if Path(p).is_file()), None)
    document = pdfium.PdfDocument.new()
    try:
        font = None
        if font_file:
            data = Path(font_file).read_bytes()
            buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            font = pdfium_c.FPDFText_LoadFont(
                document, buffer, len(data), pdfium_c.FPDF_FONT_TRUETYPE, True
            )
        if not font:
            raise RuntimeError("no TrueType font with Chinese glyphs for the text-layer PDF")
        for index, lines in enumerate(pages_lines):
            page = document.new_page(595, 842)
            top = [header[index]] if header else []
            for row, line in enumerate([*top, *lines]):
                size = 8.0 if top and row == 0 else 12.0
                obj = pdfium_c.FPDFPageObj_CreateTextObj(document, font, size)
                text = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
                pdfium_c.FPDFText_SetText(obj, ctypes.cast(text, pdfium_c.FPDF_WIDESTRING))
                y = 815 if top and row == 0 else 780 - 22 * (row - len(top))
                pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 60, y)
                pdfium_c.FPDFPage_InsertObject(page, obj)
            pdfium_c.FPDFPage_GenerateContent(page)
            page.close()
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()
    finally:
        document.close()


def make(spec: FaxSpec) -> Fax:
    images, fax = fax_pages(spec)
    if spec.kind == "tiff":
        data = tiff_bytes(images, _dpi(spec), spec.compression)
        content_type, ext = "image/tiff", "tif"
    elif spec.kind == "pdf-image":
        data = image_pdf_bytes(images, _dpi(spec))
        content_type, ext = "application/pdf", "pdf"
    elif spec.kind == "pdf-text":
        pages_lines = [text.split("\n") for text in fax.pages_text]
        header = [
            f"FROM: {fax.header_number}   {fax.header_time}   P.{i:03d}/{spec.pages:03d}"
            for i in range(1, spec.pages + 1)
        ]
        data = text_pdf_bytes(pages_lines, header if spec.header else None)
        content_type, ext = "application/pdf", "pdf"
    else:
        raise ValueError(f"unknown kind {spec.kind}")
    return dataclasses.replace(
        fax, data=data, content_type=content_type, filename=f"{spec.name}.{ext}"
    )


def _spec_key(spec: FaxSpec) -> str:
    source = Path(__file__).read_bytes()
    blob = json.dumps(dataclasses.asdict(spec), sort_keys=True).encode()
    return hashlib.sha256(source + blob).hexdigest()[:24]


def cached(spec: FaxSpec, directory: Path) -> Fax:
    """:func:`make`, kept in ``directory`` by a hash of the spec and this generator."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _spec_key(spec)
    data_path, meta_path = directory / f"{key}.bin", directory / f"{key}.json"
    if data_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return Fax(
            spec=spec,
            data=data_path.read_bytes(),
            content_type=meta["content_type"],
            pages_text=meta["pages_text"],
            title=meta["title"],
            fields=KeyFields(**meta["fields"]),
            header_number=meta["header_number"],
            header_time=meta["header_time"],
            font=meta["font"],
            filename=meta["filename"],
        )
    fax = make(spec)
    meta = {
        "content_type": fax.content_type,
        "pages_text": fax.pages_text,
        "title": fax.title,
        "fields": fax.fields.values(),
        "header_number": fax.header_number,
        "header_time": fax.header_time,
        "font": fax.font,
        "filename": fax.filename,
    }
    tmp = data_path.with_suffix(".tmp")
    tmp.write_bytes(fax.data)
    tmp.replace(data_path)
    meta_path.write_text(json.dumps(meta, ensure_ascii=False))
    return fax


# ---------------------------------------------------------------- the corpora

#: A handful of pages for the tests: each kind of fax once.
SMALL: list[FaxSpec] = [
    FaxSpec("fine-g4-skew", seed=11, skew=2.0, specks=0.004, streaks=1, faded_lines=1),
    FaxSpec("standard-g3-2pages", seed=12, pages=2, resolution="standard",
            compression="group3", skew=-1.5, specks=0.003, dropouts=2),
    FaxSpec("handwritten-fine", seed=13, handwriting=True, skew=-2.5, specks=0.003),
    FaxSpec("image-pdf-standard", seed=14, kind="pdf-image", resolution="standard",
            skew=1.0, specks=0.003),
    FaxSpec("text-pdf", seed=15, kind="pdf-text"),
]  # fmt: skip


def bench_corpus(count: int = 24) -> list[FaxSpec]:
    """The benchmark's corpus: every combination, seeded, ``count`` documents."""
    rng = random.Random(2027)
    specs = []
    for index in range(count):
        resolution = "standard" if index % 2 else "fine"
        kind = "tiff"
        if index % 8 == 5:
            kind = "pdf-image"
        elif index % 12 == 7:
            kind = "pdf-text"
        skew = round(rng.choice([-1, 1]) * rng.uniform(1.0, 3.0), 2)
        specs.append(
            FaxSpec(
                f"bench-{index:02d}",
                seed=100 + index,
                pages=1 + (index % 3 == 0),
                resolution=resolution,
                kind=kind,
                compression="group3" if index % 4 in (1, 2) else "group4",
                skew=skew,
                specks=rng.choice([0.001, 0.003, 0.006]),
                streaks=rng.choice([0, 0, 1, 2]),
                faded_lines=rng.choice([0, 1, 2]),
                dropouts=rng.choice([0, 1, 3]),
                handwriting=index % 5 == 2,
            )
        )
    return specs


#: Reads too poor to file: tiny type on a standard-resolution fax under heavy noise.
HOPELESS = FaxSpec(
    "hopeless", seed=99, resolution="standard", font_pt=7.0, specks=0.03, streaks=3,
    skew=3.0, faded_lines=6, dropouts=12,
)  # fmt: skip


def squash(text: str) -> str:
    """NFKC and no whitespace: how read text is compared with what was printed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def cer(truth: str, read: str) -> float:
    """Character error rate: edit distance / length of the truth, after :func:`squash`."""
    a, b = squash(truth), squash(read)
    if not a:
        return 0.0 if not b else 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / len(a)


def field_recall(fields: KeyFields, read: str) -> tuple[int, int]:
    """(found, total): key fields whose value appears in the read text (squashed)."""
    text = squash(read)
    values = [squash(v) for v in fields.values().values()]
    return sum(1 for v in values if v in text), len(values)


__all__ = [
    "HOPELESS",
    "SMALL",
    "Fax",
    "FaxSpec",
    "KeyFields",
    "bench_corpus",
    "cached",
    "cer",
    "field_recall",
    "make",
    "squash",
]
