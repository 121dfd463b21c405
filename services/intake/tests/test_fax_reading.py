"""Faxes read the way fax machines send them (issue 13 §2), on generated faxes with
known text (``fax_corpus.py``): standard resolution's tall pixels, skew, specks
and streaks, handwriting, image and text PDFs, the machine's header line, the
transcription threshold, page-size checks before any decoding, and the gateway's
``message_id``. Each fax posts to intake's real fax endpoint (real database,
real Tesseract); a handful of pages in all."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops

from tousu_common.db import Database
from tousu_intake.adapters import ocr
from tousu_intake.config import Settings
from tousu_intake.domain.fax import (
    correct_key_fields,
    fit_key_field,
    key_field_labels,
    key_field_problems,
    letter_title,
    parse_fax_header,
    vote_key_value,
)

from . import fax_corpus
from .conftest import count_rows, outbox_events, stored_files
from .fax_corpus import SMALL, Fax, FaxSpec, cer, field_recall, squash

pytestmark = pytest.mark.integration

SPECS = {spec.name: spec for spec in SMALL}

#: OCR costs seconds a page and reads the same on either database: the tests that
#: OCR run on SQLite; the cheap ones (text layer, 409, bombs) on both.
OCR_ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def digits(number: str) -> str:
    return "+" + "".join(c for c in number if c.isdigit())


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "fax-corpus"


@pytest.fixture
def fax_of(corpus_dir: Path) -> Callable[[FaxSpec], Fax]:
    return lambda spec: fax_corpus.cached(spec, corpus_dir)


async def post_fax(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    fax: Fax,
    *,
    message_id: str | None = None,
) -> httpx.Response:
    data = {"sender_fax": "+86 21 5555 0000"}
    if message_id:
        data["message_id"] = message_id
    return await client.post(
        "/v1/channels/fax",
        data=data,
        files={"document": (fax.filename, fax.data, fax.content_type)},
        headers=headers_for("gateway"),
    )


async def filed(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], fax: Fax
) -> tuple[dict, dict]:
    response = await post_fax(client, headers_for, fax)
    assert response.status_code == 201, response.text
    body = response.json()
    view = (await client.get(f"/v1/complaints/{body['id']}", headers=headers_for("csc"))).json()
    return body, view


# ------------------------------------------------------------ read like a fax machine sent it


@OCR_ON_SQLITE
@pytest.mark.parametrize(
    "name", ["standard-g3-2pages", "fine-g4-skew", "handwritten-fine", "image-pdf-standard"]
)
async def test_a_realistic_fax_is_read_well_enough_to_file(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    fax_of: Callable[[FaxSpec], Fax],
    name: str,
) -> None:
    """Plain Tesseract reads these at 29–79 % CER (standard resolution's tall pixels
    come out as noise); the pipeline must read each at most 15 % and find the key
    fields."""
    fax = fax_of(SPECS[name])
    body, view = await filed(client, headers_for, fax)
    error = cer(fax.text, view["description"])
    found, total = field_recall(fax.fields, view["description"])
    assert error <= 0.15, (name, error, view["description"])
    assert found >= total - 1, (name, fax.fields, view["description"])
    assert body["needs_transcription"] is False, view["attachments"][0]["document_info"]
    assert cer(fax.title, view["title"]) <= 0.2, (view["title"], fax.title)
    info = view["attachments"][0]["document_info"]
    assert info["read_from"] == "ocr" and info["pages"] == fax.spec.pages
    if fax.spec.resolution == "standard" and fax.content_type == "image/tiff":
        assert [p["dpi"] for p in info["page_info"]] == [[204.0, 98.0]] * fax.spec.pages


@OCR_ON_SQLITE
async def test_the_fax_header_is_metadata_not_the_title_nor_the_text(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    fax_of: Callable[[FaxSpec], Fax],
) -> None:
    fax = fax_of(SPECS["standard-g3-2pages"])
    _, view = await filed(client, headers_for, fax)
    assert cer(fax.title, view["title"]) <= 0.2 and "FROM" not in view["title"], view["title"]
    assert "FROM" not in view["description"] and "P.00" not in view["description"]
    info = view["attachments"][0]["document_info"]
    header = info["fax_header"]
    assert header["sender"] == digits(fax.header_number), info
    assert header["sent_at"] == fax.header_time and (header["page"], header["pages"]) == (1, 2)
    assert [h["page"] for h in info["fax_headers"]] == [1, 2]
    # The header's number is the sending machine's, kept apart from the contact given.
    assert view["customer_fax"] == "+86 21 5555 0000"
    [event] = await outbox_events(db)
    # No contact number in the event (its spellings, not "5555" alone: random ids).
    assert event["title"] == view["title"]
    assert "5555 0000" not in str(event) and "55550000" not in str(event)


async def test_a_pdf_with_a_text_layer_is_read_from_it_not_ocrd(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    fax_of: Callable[[FaxSpec], Fax],
    tesseract_calls: Path,
) -> None:
    fax = fax_of(SPECS["text-pdf"])
    body, view = await filed(client, headers_for, fax)
    assert cer(fax.text, view["description"]) == 0.0, view["description"]
    assert body["needs_transcription"] is False and squash(view["title"]) == squash(fax.title)
    info = view["attachments"][0]["document_info"]
    assert info["read_from"] == "text_layer" and info["confidence"] == 100.0
    assert info["fax_header"]["sender"] == digits(fax.header_number)
    ran = await asyncio.to_thread(tesseract_calls.exists)
    assert not ran, "Tesseract ran on a PDF that has its text"


# ------------------------------------------------------------ the transcription threshold


#: A handwritten fax in small type, skewed 3°, with streaks and faded lines: read at
#: 30–40 % CER with a mean confidence above 60, so the mean alone would file it.
POOR = FaxSpec(
    "poor", seed=24, handwriting=True, font_pt=9.0, specks=0.01, streaks=2, skew=3.0,
    faded_lines=3, dropouts=4,
)  # fmt: skip


@OCR_ON_SQLITE
@pytest.mark.parametrize("spec", [POOR, fax_corpus.HOPELESS], ids=["poor", "hopeless"])
async def test_a_poor_read_waits_for_a_person_instead_of_being_filed(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    fax_of: Callable[[FaxSpec], Fax],
    spec: FaxSpec,
) -> None:
    fax = fax_of(spec)
    body, view = await filed(client, headers_for, fax)
    assert cer(fax.text, view["description"]) >= 0.30, "the corpus must make a poor read"
    if spec is POOR:
        assert view["ocr_confidence"] >= 60, "a read the mean confidence alone would file"
    assert body["needs_transcription"] is True and body["status"] == "needs_transcription"
    reasons = view["attachments"][0]["document_info"]["transcription_reasons"]
    assert any("low confidence" in reason for reason in reasons), reasons
    [event] = await outbox_events(db)
    assert event["needs_transcription"] is True


def test_key_fields_that_fail_their_shape_are_named() -> None:
    text = "零件号 P/N: 8629-6922Z-E4\n序列号 S/N: FT2026C22336\n电话 Tel: 151 9825 1686"
    assert key_field_problems(text) == ["part_number: 8629-6922Z-E4"]
    assert key_field_problems("索赔金额 Amount: RMB 61,750.00 联系人 Tel: +86 21 5555 1234") == []
    assert key_field_problems("S/N: FT2O26C22336") == ["serial_number: FT2O26C22336"]


def test_key_fields_one_lookalike_off_their_shape_are_put_right() -> None:
    text, changes = correct_key_fields(
        "零件号 P/N: 4989-92088-AG\n序列号 S/N: TV2O26H31468。\n电话 Tel: +86 28.8899 5611"
    )
    assert (
        text == "零件号 P/N: 4989-92088-A6\n序列号 S/N: TV2026H31468。\n电话 Tel: +86 28 8899 5611"
    )
    assert changes == [
        "part_number: 4989-92088-AG → 4989-92088-A6",
        "serial_number: TV2O26H31468 → TV2026H31468",
        "phone: +86 28.8899 5611 → +86 28 8899 5611",
    ]
    # Too far off to guess: left alone, and named as a problem.
    assert correct_key_fields("S/N: DX2026Ho54349") == ("S/N: DX2026Ho54349", [])
    assert key_field_problems("S/N: DX2026Ho54349") == ["serial_number: DX2026Ho54349"]


def test_amounts_misread_only_in_their_separators_are_put_right() -> None:
    assert fit_key_field("amount", "RMB 3l,750.OO") == "RMB 31,750.00"  # lookalike digits
    assert fit_key_field("amount", "RMB 75,100 00") == "RMB 75,100.00"  # the cents' dot lost
    assert fit_key_field("amount", "RMB29.250.00") == "RMB29,250.00"  # thousands as dots
    assert fit_key_field("amount", "RMB 11050.00") == "RMB 11050.00"  # fits as it is
    assert fit_key_field("amount", '2MB 8480050"') is None  # too far off to guess
    assert fit_key_field("serial_number", "TV2026E314ES") is None  # E is no digit's lookalike
    # "/" read as "7" still labels the value.
    assert key_field_labels("零件号P7N: 2494-51306-B8") == [("part_number", 8)]
    assert key_field_labels("BES P/N: 6699-41283-A8 and S7N: PA2025E26548") == [
        ("part_number", 9),
        ("serial_number", 32),
    ]


def test_a_key_field_read_more_than_once_keeps_what_the_reads_agree_on() -> None:
    # The page's read fits but the read on its own crop says otherwise: the
    # specialist wins when there is no majority…
    assert vote_key_value("phone", "+86 28 8899 5614", ["+862888995611"]) == "+862888995611"
    # …and a majority wins over it.
    assert vote_key_value("serial_number", "DX2026H54319", ["DX2026H04319", "DX2026H54319"]) is None
    assert (
        vote_key_value("serial_number", "DX2026H54319", ["DX2026H04319", "DX2O26H04319"])
        == "DX2026H04319"
    )
    # A read that does not fit never replaces one that does; nothing fits: left alone.
    assert vote_key_value("serial_number", "DX2026H54319", ["DX2O2G6HD4319"]) is None
    assert vote_key_value("amount", '2MB 8480050"', ["RAB82.809000-"]) is None
    # Agreement up to lookalikes: the page's read, put to its shape.
    assert vote_key_value("part_number", "4989-92088-AG6", ["4989-92088-A6"]) == "4989-92088-A6"
    assert vote_key_value("amount", "RMB 75,100 00", ["RMB75,10Q00"]) == "RMB 75,100.00"


#: Bench faxes (``bench_corpus``) whose page read misses key fields: a standard-
#: resolution image PDF (``5614`` for ``5611``, ``.60`` for ``.00``) and a fine TIFF
#: (``A6`` read ``AG6``), among others read well, handwriting included.
RECALL_SAMPLE = fax_corpus.bench_corpus(16)[10:16]


def test_key_fields_are_recalled_at_the_goal_by_reading_them_again(
    fax_of: Callable[[FaxSpec], Fax],
) -> None:
    """Issue 13's goal, key-field recall ≥ 95 %, on a slice of the bench's corpus;
    read without the second look at the key fields the same faxes come out at
    87.5 %, so losing it (or breaking the crops) fails here."""
    settings = Settings(jwt_secret="test-only-" + "0" * 32)  # type: ignore[call-arg]
    found = total = 0
    misses = []
    again = []
    for spec in RECALL_SAMPLE:
        fax = fax_of(spec)
        result = ocr.read_document(fax.data, fax.content_type, settings, "document")
        hit, count = field_recall(fax.fields, result.text)
        found, total = found + hit, total + count
        if hit < count:
            misses.append((spec.name, fax.fields, result.text))
        again += [c for c in result.corrections if c.endswith("(read again)")]
        assert cer(fax.text, result.text) <= 0.2, (spec.name, result.text)
    assert total == 4 * len(RECALL_SAMPLE)
    assert found / total >= 0.95, misses
    assert any(c.startswith("phone:") for c in again), again  # 5614 → 5611
    assert any(c.startswith("part_number:") for c in again), again  # AG6 → A6


# ------------------------------------------------------------ the header line


def test_fax_header_lines_are_recognised() -> None:
    header = parse_fax_header("FROM: +86 21 5555 1234   2027-03-02 10:14   P.001/002")
    assert header is not None
    assert (header.sender, header.sent_at, header.page, header.pages) == (
        "+862155551234",
        "2027-03-02 10:14",
        1,
        2,
    )
    # At standard resolution the colon's dots fall between scan lines; 0 reads as O.
    misread = parse_fax_header("FR0M +86 215555 1234 2027-03-02 10 14 P.OOl/0O2")
    assert misread is not None and (misread.page, misread.pages) == (1, 2)
    assert (misread.sender, misread.sent_at) == ("+862155551234", "2027-03-02 10:14")
    assert parse_fax_header("关于YC6L发动机漏油的投诉") is None
    assert parse_fax_header("我公司于2027-03-02 10:14购买") is None
    text = "FROM: +86 21 5555 1234 2027-03-02 10:14 P.001/002\n关于YC6L发动机漏油的投诉\n…"
    assert letter_title(text) == "关于YC6L发动机漏油的投诉"


# ------------------------------------------------------------ each step, on its own


def test_standard_resolution_pages_are_stretched_to_square_pixels(
    fax_of: Callable[[FaxSpec], Fax],
) -> None:
    fax = fax_of(SPECS["standard-g3-2pages"])
    image = Image.open(io.BytesIO(fax.data))
    assert image.size == (1728, 1146)
    dpi = ocr._dpi(image)
    assert dpi == (204.0, 98.0)
    assert ocr.correct_aspect(image.convert("L"), dpi).size == (1728, 2386)
    assert ocr.correct_aspect(image.convert("L"), (204.0, 196.0)).size == (1728, 1146)


def test_skew_is_found_and_rotated_out(fax_of: Callable[[FaxSpec], Fax]) -> None:
    for name in ("fine-g4-skew", "handwritten-fine"):
        fax = fax_of(SPECS[name])
        page = ocr.despeckle(Image.open(io.BytesIO(fax.data)).convert("L"))
        band = ocr.header_band(page)
        assert 20 < band < 80, band  # the machine's header, kept as printed
        angle = ocr.estimate_skew(page.crop((0, band, page.width, page.height)))
        assert abs(angle + fax.spec.skew) <= 0.3, (name, angle, fax.spec.skew)


def test_specks_and_streaks_are_removed_and_strokes_kept() -> None:
    page = Image.new("L", (600, 400), 255)
    page.paste(0, (100, 100, 300, 130))  # a thick stroke
    page.paste(0, (450, 0, 452, 400))  # a streak down the whole page
    for x, y in ((20, 20), (500, 300), (60, 350)):
        page.putpixel((x, y), 0)  # specks
    clean = ocr.despeckle(page)
    assert clean.getpixel((20, 20)) == 255 and clean.getpixel((60, 350)) == 255
    assert clean.getpixel((451, 200)) == 255  # the streak
    assert clean.crop((100, 100, 300, 130)).getextrema() == (0, 0)  # the stroke stays


def test_binarize_uses_otsus_threshold() -> None:
    page = Image.new("L", (100, 100), 230)
    page.paste(40, (10, 10, 50, 50))
    page.paste(200, (60, 60, 70, 70))  # light grey: paper
    out = ocr.binarize(page)
    assert out.getpixel((20, 20)) == 0 and out.getpixel((65, 65)) == 255
    assert ImageChops.difference(out, out.point(lambda p: 255 if p else 0)).getbbox() is None


# ------------------------------------------------------------ sizes before decoding


@pytest.fixture
def tesseract_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tesseract behind a wrapper that notes each run (then runs the real one)."""
    import shutil

    import pytesseract

    real = shutil.which("tesseract")
    if real is None:
        pytest.skip("tesseract is not installed")
    calls = tmp_path / "tesseract-calls"
    wrapper = tmp_path / "tesseract"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(wrapper))
    return calls


def _bomb() -> Image.Image:
    return Image.new("1", (8_000, 8_000), 1)  # 64 megapixels, a few kB as G4


async def test_a_bomb_on_page_2_is_refused_before_page_1_is_read(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    data_dir: Path,
    fax_of: Callable[[FaxSpec], Fax],
    tesseract_calls: Path,
) -> None:
    page_1 = Image.open(io.BytesIO(fax_of(SPECS["fine-g4-skew"]).data))
    documents = {
        "tiff": (
            "bomb.tif",
            fax_corpus.tiff_bytes([page_1, _bomb()], (204, 196), "group4"),
            "image/tiff",
        ),
        "pdf": ("bomb.pdf", fax_corpus.image_pdf_bytes([page_1, _bomb()], (204, 196)), None),
    }
    for kind, (filename, data, content_type) in documents.items():
        assert len(data) < 200_000, kind
        started = time.monotonic()
        response = await client.post(
            "/v1/channels/fax",
            data={"sender_fax": "+86 21 5555 0000"},
            files={"document": (filename, data, content_type or "application/pdf")},
            headers=headers_for("gateway"),
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 422, (kind, response.text)
        [problem] = response.json()["error"]["fields"]
        assert problem["field"] == "document" and "page 2" in problem["problem"], problem
        ran = await asyncio.to_thread(tesseract_calls.exists)
        assert not ran, f"{kind}: page 1 was OCR'd before the check"
        assert elapsed < 5, (kind, elapsed)  # no OCR: well under a page's read
    assert await count_rows(db, "complaints") == 0 and stored_files(data_dir) == []


# ------------------------------------------------------------ the gateway's message id


async def test_the_same_message_id_with_another_document_is_a_409_naming_message_id(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    fax_of: Callable[[FaxSpec], Fax],
) -> None:
    first = fax_of(SPECS["text-pdf"])
    other = fax_of(FaxSpec("text-pdf-other", seed=16, kind="pdf-text"))
    assert (await post_fax(client, headers_for, first, message_id="gw-77")).status_code == 201
    again = await post_fax(client, headers_for, first, message_id="gw-77")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    response = await post_fax(client, headers_for, other, message_id="gw-77")
    assert response.status_code == 409, response.text
    [problem] = response.json()["error"]["fields"]
    assert problem["field"] == "message_id", problem
    assert "Idempotency-Key" not in response.text
    assert await count_rows(db, "complaints") == 1


def test_tesseract_runs_with_one_thread() -> None:
    assert os.environ["OMP_THREAD_LIMIT"] == "1"
