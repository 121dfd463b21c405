"""Intake's channels end to end: real service processes, the real broker and database.

A two-page fax is OCR'd and announced with channel ``fax``; an unreadable fax
waits in the transcription queue and the typed text goes out as
``complaint.amended``; a key customer's complaint is flagged on the broker; a
withdrawal goes out as ``complaint.withdrawn`` and reaches the tracking page.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tousu_common.devstack import Stack
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from ..conftest import complaint_body, get_json_if

pytestmark = pytest.mark.integration


def _documents(name: str = "documents"):  # type: ignore[no-untyped-def]
    """The service tests' document makers (one copy of them)."""
    path = Path(__file__).resolve().parents[2] / f"services/intake/tests/{name}.py"
    spec = importlib.util.spec_from_file_location(f"tousu_intake_test_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


documents = _documents()
fax_corpus = _documents("fax_corpus")
noise_page, text_page, tiff = documents.noise_page, documents.text_page, documents.tiff

PAGE_1 = ["质量投诉：发动机漏油", "Engine oil leak, truck stopped"]
PAGE_2 = ["第二页：请派技术员", "Send a technician please"]


def squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def events_for(stack: Stack, complaint_id: str, count: int) -> list[tuple[str, dict]]:
    """The first ``count`` events keyed by this complaint on tousu.complaints."""

    def mine(records: list) -> list:
        return [r for r in records if r.key == complaint_id.encode()]

    records = asyncio.run(
        read_topic(stack.bootstrap, "tousu.complaints", until=lambda rs: len(mine(rs)) >= count)
    )
    found = [(header(r, "ce_type") or "", json.loads(r.value)) for r in mine(records)]
    assert len(found) >= count, found
    return found


def test_two_page_fax_is_read_and_announced_with_channel_fax(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    with httpx.Client(base_url=stack.url("intake"), timeout=60) as client:
        response = client.post(
            "/v1/channels/fax",
            data={"sender_fax": "+86 536 229 7001", "message_id": "e2e-fax-1"},
            files={"document": ("fax.tif", tiff([text_page(PAGE_1), text_page(PAGE_2)]))},
            headers=auth("gateway", sub="fax-gateway", department=None),
        )
        assert response.status_code == 201, response.text
        created = response.json()
        view = client.get(f"/v1/complaints/{created['id']}", headers=auth("agent")).json()
        for phrase in (*PAGE_1, *PAGE_2):
            assert squash(phrase) in squash(view["description"]), view["description"]
        [attachment] = view["attachments"]
        download = client.get(attachment["url"], headers=auth("quality", department="quality"))
        assert download.status_code == 200 and download.headers["content-type"] == "image/tiff"
        assert download.content.startswith(b"II*\x00")
        forbidden = client.get(attachment["url"], headers=auth("gateway", department=None))
        assert forbidden.status_code == 403

    [(kind, payload)] = events_for(stack, created["id"], 1)
    assert kind == "complaint.received"
    assert payload["channel"] == "fax" and payload["attachment_count"] == 1
    assert payload["needs_transcription"] is False and payload["provisional_customer"] is True
    # No fax number in the event, in any spelling (not "536" alone: the event's
    # random ids contain it now and then).
    dumped = json.dumps(payload)
    assert not [n for n in ("2297001", "229 7001", "229-7001", "+86 536") if n in dumped], dumped


def test_a_standard_resolution_fax_is_read_and_its_header_kept_apart(
    stack: Stack, auth: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    """A two-page G3 fax at 204×98 dpi, skewed and speckled, under the machine's
    header line: filed (not sent to transcription), titled from the letter, the
    header kept as the attachment's metadata."""
    [spec] = [s for s in fax_corpus.SMALL if s.name == "standard-g3-2pages"]
    fax = fax_corpus.cached(spec, tmp_path)
    with httpx.Client(base_url=stack.url("intake"), timeout=120) as client:
        response = client.post(
            "/v1/channels/fax",
            data={"sender_fax": "+86 21 5555 0001", "message_id": "e2e-fax-standard"},
            files={"document": (fax.filename, fax.data, fax.content_type)},
            headers=auth("gateway", sub="fax-gateway", department=None),
        )
        assert response.status_code == 201, response.text
        created = response.json()
        view = client.get(f"/v1/complaints/{created['id']}", headers=auth("agent")).json()
    assert created["needs_transcription"] is False, view["attachments"][0]["document_info"]
    assert fax_corpus.cer(fax.text, view["description"]) <= 0.15, view["description"]
    assert fax_corpus.cer(fax.title, view["title"]) <= 0.2, view["title"]
    header = view["attachments"][0]["document_info"]["fax_header"]
    assert header["sender"] == "+" + "".join(c for c in fax.header_number if c.isdigit())
    assert header["sent_at"] == fax.header_time
    [(kind, payload)] = events_for(stack, created["id"], 1)
    assert kind == "complaint.received" and payload["needs_transcription"] is False
    assert payload["title"] == view["title"] and "FROM" not in payload["title"]


def test_unreadable_fax_is_transcribed_and_the_text_announced(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    with httpx.Client(base_url=stack.url("intake"), timeout=60) as client:
        response = client.post(
            "/v1/channels/fax",
            data={"sender_fax": "02155551234"},
            files={"document": ("noise.tif", tiff([noise_page()]))},
            headers=auth("gateway", department=None),
        )
        assert response.status_code == 201, response.text
        complaint_id = response.json()["id"]
        assert response.json()["status"] == "needs_transcription"
        queue = eventually(
            lambda: get_json_if(client, f"{stack.url('intake')}/v1/transcriptions", auth("agent"))
        )
        assert complaint_id in [item["id"] for item in queue["items"]]
        typed = client.post(
            f"/v1/transcriptions/{complaint_id}",
            json={"text": "变速箱异响，已停运。"},
            headers=auth("agent"),
        )
        assert typed.status_code == 201, typed.text

    events = events_for(stack, complaint_id, 2)
    assert [kind for kind, _ in events] == ["complaint.received", "complaint.amended"]
    assert events[0][1]["needs_transcription"] is True
    assert events[1][1]["kind"] == "transcription"
    assert events[1][1]["text"] == "变速箱异响，已停运。"


def test_key_customer_is_flagged_on_the_broker_and_lookup_shows_the_complaint(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    csv = (
        "客户编码,客户名称,客户类型,客户等级,电话,邮箱\n"
        "E2E-1,陕汽重卡,主机厂,战略,029-8888 1234,qa@shacman.example\n"
    ).encode("gbk")
    with httpx.Client(base_url=stack.url("intake"), timeout=30) as client:
        report = client.post(
            "/v1/customers/import",
            files={"file": ("customers.csv", csv, "text/csv")},
            headers=auth("csc"),
        )
        assert report.status_code == 200, report.text
        assert report.json()["imported"] + report.json()["updated"] == 1
        created = client.post(
            "/v1/complaints",
            json={
                "title": "新车交付延误",
                "description": "合同约定的交付日期已过",
                "customer_name": "陕汽 采购部",
                "customer_phone": "+86 29 8888 1234",
            },
            headers=auth("agent"),
        )
        assert created.status_code == 201, created.text
        complaint = created.json()
        assert complaint["key_account"] is True
        [match] = client.get(
            "/v1/customers/lookup", params={"email": "QA@shacman.example"}, headers=auth("agent")
        ).json()
        assert complaint["id"] in [c["id"] for c in match["open_complaints"]]

    [(kind, payload)] = events_for(stack, complaint["id"], 1)
    assert kind == "complaint.received"
    assert payload["key_account"] is True
    assert payload["customer_tier"] == "strategic" and payload["customer_segment"] == "oem"


def test_corrupt_pdf_fax_is_refused_and_leaves_nothing_behind(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    attachments = stack.var_dir / "intake-data" / "attachments"

    def files() -> set[Path]:
        return {p for p in attachments.rglob("*") if p.is_file()} if attachments.exists() else set()

    with httpx.Client(base_url=stack.url("intake"), timeout=30) as client:
        staff = auth("csc")
        before_files = files()
        before = client.get("/v1/complaints?channel=fax", headers=staff).json()["total"]
        response = client.post(
            "/v1/channels/fax",
            data={"sender_fax": "+86 10 6666 0000", "message_id": "e2e-corrupt"},
            files={"document": ("fax.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog" + b"\x00" * 64)},
            headers=auth("gateway", department=None),
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"][0]["field"] == "document"
        after = client.get("/v1/complaints?channel=fax", headers=staff).json()["total"]
        nobody = client.get(
            "/v1/customers/lookup", params={"fax": "+86 10 6666 0000"}, headers=staff
        ).json()
    assert after == before and nobody == [] and files() == before_files


def test_withdrawal_reaches_the_broker_and_the_customers_tracking_page(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    with httpx.Client(base_url=stack.url("intake"), timeout=30) as client:
        created = client.post(
            "/v1/complaints",
            json=complaint_body(feedback_requested=True),
            headers=auth("agent"),
        )
        assert created.status_code == 201, created.text
        complaint_id = created.json()["id"]
        withdrawn = client.post(
            f"/v1/complaints/{complaint_id}/withdraw",
            json={"reason": "客户电话告知已自行解决"},
            headers=auth("agent", sub="agent-withdraw"),
        )
        assert withdrawn.status_code == 200, withdrawn.text
        again = client.post(
            f"/v1/complaints/{complaint_id}/withdraw", json={"reason": "x"}, headers=auth("csc")
        )
        assert again.status_code == 409
        contact = client.get(f"/v1/complaints/{complaint_id}/contact", headers=auth("agent"))
        tracking_url = contact.json()["tracking_url"]

        def shows_withdrawal() -> str | None:
            page = client.get(tracking_url)
            return page.text if "投诉已撤回。" in page.text else None

        # intake's own consumer reads the event back into the tracking history
        page = eventually(shows_withdrawal)
        assert 'id="withdraw"' not in page

    events = events_for(stack, complaint_id, 2)
    assert [kind for kind, _ in events[:2]] == ["complaint.received", "complaint.withdrawn"]
    assert events[0][1]["feedback_requested"] is True
    assert events[1][1]["reason"] == "客户电话告知已自行解决"
    assert events[1][1]["by"] == "agent-withdraw"
