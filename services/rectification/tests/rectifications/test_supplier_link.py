"""The supplier's 8D page (public, token-only), in-process: wrong token → 404 and
nothing changed; CSRF; size and type limits; an answer with evidence."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events import ComplaintCategory
from tousu_rectification.adapters import supplier_links
from tousu_rectification.config import Settings

from .conftest import PUBLIC_URL, in_days, outbox_types, snapshot

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FORM = {
    "containment": "已隔离库存 200 件",
    "root_cause": "密封圈材料耐温不足",
    "root_cause_category": "material",
    "corrective_action": "改用氟橡胶",
    "preventive_action": "来料检验增加耐温测试",
}


async def dispatched_notice(
    api: httpx.AsyncClient, as_: Callable[..., dict[str, str]], complaint_id: UUID, due: str
) -> dict[str, Any]:
    supply, quality = as_("supply", department="supply"), as_("quality", department="quality")
    supplier = await api.post(
        "/v1/suppliers",
        json={
            "code": f"S-{complaint_id.hex[:8]}",
            "name": "常州密封件厂",
            "language": "en",
            "contacts": [{"name": "Ms Qian", "email": "qian@seal.example"}],
        },
        headers=supply,
    )
    report = await api.post(
        f"/v1/cases/{complaint_id}/quality-reports",
        json={"failure_description": "漏油", "quantity_affected": 5},
        headers=as_("csc"),
    )
    notice = await api.post(
        f"/v1/quality-reports/{report.json()['report_id']}/notices",
        json={
            "recipient": "supplier",
            "supplier_id": supplier.json()["supplier_id"],
            "requirement": "请提交8D报告",
            "due_date": due,
        },
        headers=quality,
    )
    rid = notice.json()["rectification_id"]
    await api.post(f"/v1/rectifications/{rid}/dispatch", headers=supply)
    contact = await api.get(f"/v1/rectifications/{rid}/supplier-contact", headers=supply)
    return {"rid": UUID(rid), "url": contact.json()["response_url"]}


def stored_files(settings: Settings, rid: UUID) -> list[bytes]:
    directory = Path(settings.data_dir, "evidence", str(rid))
    return [p.read_bytes() for p in directory.iterdir()] if directory.exists() else []


def local(url: str) -> str:
    return url.removeprefix(PUBLIC_URL)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_the_supplier_answers_through_the_link_with_evidence(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    notice = await dispatched_notice(api, as_, complaint_id, in_days(10))
    page = await api.get(local(notice["url"]))
    assert page.status_code == 200
    assert "Supplier rectification response (8D)" in page.text  # the supplier's language
    assert "请提交8D报告" in page.text
    assert "中文" in page.text
    assert "供应商整改回复" in (await api.get(local(notice["url"]) + "?lang=zh")).text

    answer = await api.post(
        local(notice["url"]),
        data={**FORM, "csrf": csrf_of(page), "lang": "en"},
        files=[("evidence", ("照片.png", PNG, "image/png"))],
    )
    assert answer.status_code == 200, answer.text
    assert 'id="answered"' in answer.text
    rect = (await api.get(f"/v1/rectifications/{notice['rid']}", headers=as_("quality"))).json()
    assert rect["status"] == "awaiting_verification"
    assert rect["root_cause"] == "密封圈材料耐温不足"
    assert rect["history"][-1]["by"].startswith("supplier:")
    assert [(e["filename"], e["content_type"]) for e in rect["evidence"]] == [
        ("照片.png", "image/png")
    ]
    assert stored_files(settings, notice["rid"]) == [PNG]
    download = await api.get(
        f"/v1/rectifications/{notice['rid']}/evidence/{rect['evidence'][0]['evidence_id']}",
        headers=as_("quality"),
    )
    assert download.content == PNG
    assert (await outbox_types(db, complaint_id))[-1] == "rectification.supplier_responded"

    again = await api.get(local(notice["url"]))
    assert 'id="answered"' in again.text and "<form" not in again.text


async def test_wrong_token_expired_link_and_unknown_id_are_404_and_change_nothing(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    notice = await dispatched_notice(api, as_, complaint_id, in_days(1))
    rid = notice["rid"]
    before = await snapshot(db, rid)
    token = supplier_links.response_token(settings, rid)
    wrong = [
        f"/supplier/8d/{rid}/{token[:-1]}x",
        f"/supplier/8d/{rid}/short",
        f"/supplier/8d/{rid}/{'a' * 500}",
        f"/supplier/8d/not-a-uuid/{token}",
        f"/supplier/8d/{UUID(int=7)}/{token}",
    ]
    for path in wrong:
        assert (await api.get(path)).status_code == 404, path
        posted = await api.post(path, data={**FORM, "csrf": "x"})
        assert posted.status_code == 404, path
    assert await snapshot(db, rid) == before
    # The link dies a configured time after the due date.
    assert supplier_links.link_expired(settings, date.fromisoformat(in_days(-31)), date.today())
    assert not supplier_links.link_expired(settings, date.fromisoformat(in_days(-30)), date.today())


async def test_without_the_csrf_cookie_or_with_bad_fields_the_answer_is_refused(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    notice = await dispatched_notice(api, as_, complaint_id, in_days(10))
    rid, path = notice["rid"], local(notice["url"])
    before = await snapshot(db, rid)
    page = await api.get(path)
    csrf = csrf_of(page)

    api.cookies.clear()  # a page elsewhere posting the form: no cookie of ours
    forged = await api.post(path, data={**FORM, "csrf": csrf})
    assert forged.status_code == 403

    # Every page (the error pages too) sets a fresh cookie and token, as a browser
    # would see them: each post takes the token of the page it came from.
    async def fresh() -> str:
        return csrf_of(await api.get(path))

    missing = await api.post(path, data={**FORM, "containment": "", "csrf": await fresh()})
    assert missing.status_code == 422 and "Containment action" in missing.text
    exe = await api.post(
        path,
        data={**FORM, "csrf": await fresh()},
        files=[("evidence", ("report.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"))],
    )
    assert exe.status_code == 422 and "report.pdf" in exe.text
    big = await api.post(
        path,
        data={**FORM, "csrf": await fresh()},
        files=[("evidence", ("big.png", PNG + b"\x00" * settings.evidence_max_bytes, "image/png"))],
    )
    assert big.status_code == 422
    too_long = await api.post(
        path, data={**FORM, "root_cause": "因" * 20_001, "csrf": await fresh()}
    )
    assert too_long.status_code in (413, 422)
    assert await snapshot(db, rid) == before
    assert stored_files(settings, rid) == []


async def test_supplier_contact_is_for_services_and_supply_only(
    api: httpx.AsyncClient,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    notice = await dispatched_notice(api, as_, complaint_id, in_days(10))
    url = f"/v1/rectifications/{notice['rid']}/supplier-contact"
    service = await api.get(url, headers=as_("service"))
    assert service.status_code == 200
    assert set(service.json()) == {
        "rectification_id",
        "supplier_id",
        "supplier_name",
        "email",
        "language",
        "response_url",
    }
    assert service.json()["language"] == "en"
    assert (await api.get(url, headers=as_("agent"))).status_code == 403
    assert (await api.get(url, headers=as_("quality"))).status_code == 403
    assert (await api.get(url)).status_code == 401


async def test_supply_attaches_evidence_the_supplier_mailed(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    notice = await dispatched_notice(api, as_, complaint_id, in_days(10))
    rid, url = notice["rid"], f"/v1/rectifications/{notice['rid']}/evidence"
    supply = as_("supply", department="supply")
    before = await snapshot(db, rid)
    refused = await api.post(
        url, files=[("files", ("a.exe", b"MZ\x90\x00", "image/png"))], headers=supply
    )
    assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == "files"
    wrong = await api.post(
        url, files=[("files", ("a.png", PNG, "image/png"))], headers=as_("quality")
    )
    assert wrong.status_code == 403
    assert await snapshot(db, rid) == before and stored_files(settings, rid) == []
    attached = await api.post(
        url,
        files=[
            ("files", ("8D.pdf", b"%PDF-1.4 ...", "application/pdf")),
            ("files", ("p.png", PNG, "x/y")),
        ],
        headers=supply,
    )
    assert attached.status_code == 200, attached.text
    body = attached.json()
    assert body["status"] == "awaiting_supplier" and body["evidence_count"] == 2
    assert sorted((e["filename"], e["content_type"]) for e in body["evidence"]) == [
        ("8D.pdf", "application/pdf"),
        ("p.png", "image/png"),  # sniffed, not the declared x/y
    ]
    assert body["history"][-1]["action"] == "attach_evidence"
    after = await snapshot(db, rid)
    assert after["outbox"] == before["outbox"]  # history only: no event of its own
    assert (after["evidence"], after["version"]) == (2, before["version"] + 1)
    assert len(stored_files(settings, rid)) == 2
