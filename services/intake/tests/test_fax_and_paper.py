"""Fax, letter and walk-in: OCR'd scans, the transcription queue, and documents that
are refused whole (broken files, decompression bombs) with nothing stored."""

from __future__ import annotations

import asyncio
import io
import unicodedata
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tousu_common.db import Database

from .conftest import count_rows, outbox_events, stored_files
from .documents import noise_page, pdf, text_page, tiff

pytestmark = pytest.mark.integration

PAGE_1 = ["发动机漏油投诉", "客户：潍坊运输公司", "Engine oil leak on YC6L truck"]
PAGE_2 = ["第二页：请尽快派人维修", "Please send a technician today"]


def squash(text: str) -> str:
    """NFKC and no whitespace: how OCR text is compared with what was printed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


async def nothing_stored(db: Database, data_dir: Path) -> bool:
    return (
        await count_rows(db, "complaints") == 0
        and await count_rows(db, "attachments") == 0
        and await count_rows(db, "customers") == 0
        and await outbox_events(db) == []
        and stored_files(data_dir) == []
    )


async def test_two_page_tiff_fax_is_read_into_a_complaint(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, data_dir: Path
) -> None:
    document = tiff([text_page(PAGE_1), text_page(PAGE_2)])
    response = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "+86 536 229 7001", "message_id": "gw-1"},
        files={"document": ("fax.tif", document, "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["channel"] == "fax" and body["status"] == "received"
    assert body["needs_transcription"] is False and body["provisional_customer"] is True

    view = (await client.get(f"/v1/complaints/{body['id']}", headers=headers_for("csc"))).json()
    text = squash(view["description"])
    for phrase in (*PAGE_1, *PAGE_2):
        assert squash(phrase) in text, (phrase, view["description"])
    assert squash(view["title"]) == squash(PAGE_1[0])
    assert view["customer_fax"] == "+86 536 229 7001" and view["ocr_confidence"] > 60
    [attachment] = view["attachments"]
    assert attachment["content_type"] == "image/tiff" and attachment["source"] == "fax"
    contact = (
        await client.get(f"/v1/complaints/{body['id']}/contact", headers=headers_for("service"))
    ).json()
    assert contact["customer_name"] is None and contact["fax"] == "+86 536 229 7001"
    [event] = await outbox_events(db)
    assert event["channel"] == "fax" and event["attachment_count"] == 1
    assert event["needs_transcription"] is False

    # The gateway retries with the same message id: the same answer, no second complaint.
    retry = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "+86 536 229 7001", "message_id": "gw-1"},
        files={"document": ("fax.tif", document, "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert retry.status_code == 201 and retry.json()["id"] == body["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(await outbox_events(db)) == 1 and len(stored_files(data_dir)) == 1


async def test_unreadable_fax_waits_for_a_person_to_type_it(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    response = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "02155551234"},
        files={"document": ("fax.tif", tiff([noise_page()]), "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "needs_transcription" and body["needs_transcription"] is True
    [received] = await outbox_events(db)
    assert received["needs_transcription"] is True

    agent = headers_for("agent")
    queue = (await client.get("/v1/transcriptions", headers=agent)).json()
    assert [item["id"] for item in queue["items"]] == [body["id"]]
    assert queue["items"][0]["attachments"][0]["content_type"] == "image/tiff"

    typed = await client.post(
        f"/v1/transcriptions/{body['id']}",
        json={"text": "刹车失灵，请尽快处理。\nBrakes failed."},
        headers=agent,
    )
    assert typed.status_code == 201, typed.text
    assert typed.json()["status"] == "received"
    events = await outbox_events(db)
    assert [e["type"] for e in events] == ["complaint.received", "complaint.amended"]
    assert events[1]["kind"] == "transcription" and events[1]["text"].startswith("刹车失灵")
    assert (await client.get("/v1/transcriptions", headers=agent)).json()["total"] == 0
    view = (await client.get(f"/v1/complaints/{body['id']}", headers=agent)).json()
    assert view["status"] == "received" and view["description"].startswith("刹车失灵")
    again = await client.post(
        f"/v1/transcriptions/{body['id']}", json={"text": "again"}, headers=agent
    )
    assert again.status_code == 409
    assert (
        await client.get("/v1/transcriptions", headers=headers_for("gateway"))
    ).status_code == 403


@pytest.mark.parametrize(
    ("name", "broken", "says"),
    [
        # cut off: the header is there, the body is gone
        ("fax.pdf", lambda: pdf([text_page(PAGE_1)])[:400], "PDF"),
        ("fax.pdf", lambda: b"%PDF-1.7\n" + b"\x00garbage" * 50, "PDF"),
        ("fax.tif", lambda: tiff([text_page(PAGE_1)])[:300], "image"),
    ],
)
async def test_corrupt_document_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    data_dir: Path,
    name: str,
    broken: Callable[[], bytes],
    says: str,
) -> None:
    response = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "+86 10 8888 6666"},
        files={"document": (name, broken(), "application/pdf")},
        headers=headers_for("gateway"),
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["error"]["fields"]
    assert problem["field"] == "document" and says in problem["problem"]
    assert await nothing_stored(db, data_dir)


async def test_decompression_bomb_and_too_many_pages_are_refused(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, data_dir: Path
) -> None:
    bomb = io.BytesIO()
    Image.new("1", (8_000, 8_000), 1).save(bomb, "TIFF", compression="group4")
    assert len(bomb.getvalue()) < 100_000  # small on the wire, 64 megapixels decoded
    response = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "+86 10 8888 6666"},
        files={"document": ("bomb.tif", bomb.getvalue(), "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == "document"
    assert "pixels" in response.json()["error"]["message"]

    blank = Image.new("1", (100, 100), 1)
    many = tiff([blank] * 21)
    response = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "+86 10 8888 6666"},
        files={"document": ("many.tif", many, "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert response.status_code == 422 and "pages" in response.json()["error"]["message"]
    assert await nothing_stored(db, data_dir)


async def test_fax_needs_gateway_role_a_number_and_a_scan(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, data_dir: Path
) -> None:
    document = tiff([text_page(PAGE_2)])
    agent = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "02155551234"},
        files={"document": ("f.tif", document, "image/tiff")},
        headers=headers_for("agent"),
    )
    assert agent.status_code == 403
    no_number = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "fax me"},
        files={"document": ("f.tif", document, "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert no_number.status_code == 422
    assert no_number.json()["error"]["fields"][0]["field"] == "sender_fax"
    text = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "02155551234"},
        files={"document": ("f.txt", "你好".encode(), "text/plain")},
        headers=headers_for("gateway"),
    )
    assert text.status_code == 422 and text.json()["error"]["fields"][0]["field"] == "document"
    assert await nothing_stored(db, data_dir)


async def test_letter_scan_as_pdf_and_typed_walk_in(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    agent = headers_for("agent")
    letter = await client.post(
        "/v1/channels/letter",
        data={"customer_name": "李先生", "customer_phone": "13700000000"},
        files={"scan": ("letter.pdf", pdf([text_page(PAGE_1)]), "application/pdf")},
        headers=agent,
    )
    assert letter.status_code == 201, letter.text
    assert letter.json()["channel"] == "letter" and letter.json()["needs_transcription"] is False
    view = (await client.get(f"/v1/complaints/{letter.json()['id']}", headers=agent)).json()
    assert squash("Engine oil leak on YC6L truck") in squash(view["description"])
    assert view["attachments"][0]["content_type"] == "application/pdf"

    visit = await client.post(
        "/v1/channels/visit",
        data={"text": "客户到店反映：变速箱异响\n详见维修单", "customer_phone": "13700000000"},
        headers=agent,
    )
    assert visit.status_code == 201, visit.text
    assert visit.json()["customer_id"] == letter.json()["customer_id"]
    events = await outbox_events(db)
    assert [e["channel"] for e in events] == ["letter", "visit"]
    assert events[1]["title"] == "客户到店反映：变速箱异响"
    empty = await client.post("/v1/channels/visit", data={"customer_name": "x"}, headers=agent)
    assert empty.status_code == 422 and empty.json()["error"]["fields"][0]["field"] == "text"


async def test_concurrent_retries_of_one_fax_file_one_complaint_and_keep_one_file(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, data_dir: Path
) -> None:
    document = tiff([text_page(PAGE_2)])

    async def post() -> httpx.Response:
        return await client.post(
            "/v1/channels/fax",
            data={"sender_fax": "+86 536 229 7009", "message_id": "gw-race"},
            files={"document": ("fax.tif", document, "image/tiff")},
            headers=headers_for("gateway"),
        )

    responses = await asyncio.gather(post(), post(), post())
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_rows(db, "complaints") == 1
    # The losers' files were deleted when their transactions rolled back.
    assert await count_rows(db, "attachments") == 1 and len(stored_files(data_dir)) == 1


async def test_a_fax_on_a_machine_without_tesseract_is_filed_for_a_person_to_type(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No OCR installed (a fresh `make run` without the Debian packages): the fax is
    not lost and not a 500 — it waits in the transcription queue."""
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    response = await client.post(
        "/v1/channels/fax",
        data={"sender_fax": "+86 536 229 7002"},
        files={"document": ("fax.tif", tiff([text_page(PAGE_1)]), "image/tiff")},
        headers=headers_for("gateway"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "needs_transcription"
    [received] = await outbox_events(db)
    assert received["needs_transcription"] is True
