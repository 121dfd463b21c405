"""Every screen of the console, as the person who uses it, in Chromium on the real
stack: axe-core finds no serious or critical problem on any of them, in Chinese
and in English, and each is kept as a 1366×768 screenshot
(``var/screenshots/<screen>-<zh|en>.png``).

Then the forbidden matrix: for (role, form) pairs where the role may not act, the
form is not on the page, and a forged post (with the page's own CSRF token) gets
the service's 403 shown as a message, with nothing changed (read back through the
API). Pairs already covered elsewhere are not repeated here:

- agent → case first response / resolution plan: test_csc.py
- a department that is not the recipient → rectification done: test_rectification.py
- quality → hotline save, complaint withdrawal: test_hotline.py
- manager → ops discard / redrive; sales → digest CSV: test_manager.py
- a form post without the CSRF token: test_sign_in.py
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.console.conftest import (
    headers_of,
    new_complaint,
    screenshot,
    serious_accessibility_problems,
    sign_in,
    use_language,
)
from tousu_common.devstack import Stack
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

TIMEOUT = 30_000
LOADING = ("加载中…", "Loading…")


def in_days(days: int) -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=days)).isoformat()


class Api:
    """The services' APIs as a seed user: to arrange data and read back what changed."""

    def __init__(self, stack: Stack, identity: DevIdentityProvider) -> None:
        self.stack, self.identity = stack, identity
        self.http = httpx.AsyncClient(timeout=60)

    async def call(self, user: str, method: str, service: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(
            method,
            f"{self.stack.url(service)}{path}",
            json=body,
            headers=headers_of(self.identity, user),
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def cased(self, **fields: Any) -> dict[str, Any]:
        """A complaint recorded by the agent, once routing triaged it and rectification
        opened its case."""
        created = await new_complaint(self.stack, self.identity, **fields)
        cid = str(created["id"])

        async def case() -> Any:
            answer = await self.http.get(
                f"{self.stack.url('rectification')}/v1/cases/{cid}",
                headers=headers_of(self.identity, "csc"),
            )
            return answer.json() if answer.status_code == 200 else None

        await eventually_async(case, timeout=60, interval=0.2, what="the case is opened")
        return created


@pytest.fixture
async def api(console_stack: Stack, identity: DevIdentityProvider) -> AsyncIterator[Api]:
    client = Api(console_stack, identity)
    yield client
    await client.http.aclose()


class Person:
    """One signed-in person in their own browser context."""

    def __init__(self, page: Any, url: str) -> None:
        self.page, self.url = page, url
        self.problems: dict[str, list[dict[str, Any]]] = {}

    async def goto(self, path: str) -> None:
        await self.page.goto(f"{self.url}{path}")

    async def settled(self, ready: str | None) -> None:
        """The page, and every panel it loads, is there: no loading placeholder left."""
        if ready:
            await self.page.wait_for_selector(ready, timeout=TIMEOUT)
        await self.page.wait_for_load_state("networkidle")
        await self.page.wait_for_function(
            """(words) => !words.some(w => document.body.innerText.includes(w))""",
            arg=list(LOADING),
            timeout=TIMEOUT,
        )

    async def check(self, screen: str, ready: str | None = None) -> None:
        """axe on the page as it is now, and its screenshot in the page's language."""
        await self.settled(ready)
        lang = await self.page.get_attribute("html", "lang")
        found = await serious_accessibility_problems(self.page)
        if found:
            self.problems[f"{screen}-{lang}"] = found
        await screenshot(self.page, screen)
        # What is folded away (forms in <details>) is checked too, unfolded.
        if await self.page.evaluate(
            "() => [...document.querySelectorAll('details:not([open])')]"
            ".map(d => d.open = true).length"
        ):
            found = await serious_accessibility_problems(self.page)
            if found:
                self.problems[f"{screen}-{lang}-unfolded"] = found

    async def language(self, lang: str) -> None:
        """Switch with the header's button (remembered for the person)."""
        await use_language(self.page, lang)

    async def csrf(self) -> str:
        return await self.page.get_attribute("header input[name=csrf]", "value") or ""


class People:
    def __init__(self, browser: Any, url: str, identity: DevIdentityProvider) -> None:
        self.browser, self.url, self.identity = browser, url, identity
        self.contexts: list[Any] = []

    async def sign_in(self, user: str, path: str = "/") -> Person:
        context = await self.browser.new_context(
            locale="zh-CN", viewport={"width": 1366, "height": 768}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT)
        await sign_in(page, self.url, self.identity, user, path)
        return Person(page, self.url)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def people(browser: Any, console_url: str, identity: DevIdentityProvider) -> Any:
    crowd = People(browser, console_url, identity)
    yield crowd
    await crowd.close()


#: (screen, path, selector to wait for) per person; ``{cid}`` etc. filled in.
#: An optional fourth element: what to do on the page before it is checked.
Visit = tuple[Any, ...]


async def tour(person: Person, visits: list[Visit], **ids: str) -> None:
    """Every screen of the list in Chinese, then in English; the person left in Chinese."""
    for lang in ("zh", "en"):
        await person.language(lang)
        for screen, path, ready, *then in visits:
            await person.goto(path.format(**ids))
            for action in then:
                await action(person.page)
            await person.check(screen, ready.format(**ids) if ready else None)
    await person.language("zh")


async def without_a_name(page: Any) -> None:
    """The hotline form saved without the caller's name: the field's error shown."""
    await page.fill("#title", "变速箱漏油")
    await page.fill("#description", "新车三个月，变速箱漏油")
    await page.click("#save-complaint")


async def arrange(api: Api) -> dict[str, str]:
    """A key-account caller with a cased complaint, an instruction to after-sales, a
    quality report turned into a supplier notice, and a complaint no triage rule
    matches (the manual queue): every screen has something to show."""
    tag = secrets.token_hex(3).upper()
    phone = f"+86 137 {secrets.randbelow(10**8):08d}"
    serial = f"EV-{tag}"
    customer = await api.call(
        "csc",
        "POST",
        "intake",
        "/v1/customers",
        {
            "name": "苏州华东动力有限公司",
            "tier": "key",
            "segment": "oem",
            "phones": [phone],
            "products": [{"serial_number": serial, "model": "YC6L-280"}],
        },
    )
    made = await api.cased(
        title=f"油泵漏油 {tag}",
        description="油泵密封圈处漏油，车辆无法继续行驶",
        customer_id=customer["id"],
        customer_name="苏州华东动力有限公司",
        customer_phone=phone,
        product_model="YC6L-280",
        serial_number=serial,
    )
    cid = str(made["id"])
    supplier = await api.call(
        "supply",
        "POST",
        "rectification",
        "/v1/suppliers",
        {
            "code": f"S-{tag}",
            "name": "无锡油泵有限公司",
            "contacts": [{"name": "赵工", "email": f"s-{tag.lower()}@supplier.example.cn"}],
            "parts_supplied": ["油泵"],
        },
    )
    instruction = await api.call(
        "csc",
        "POST",
        "rectification",
        f"/v1/cases/{cid}/instructions",
        {"department": "after_sales", "instruction": "核查服务站维修记录", "due_date": in_days(3)},
    )
    report = await api.call(
        "csc",
        "POST",
        "rectification",
        f"/v1/cases/{cid}/quality-reports",
        {
            "product_model": "YC6L-280",
            "serial_or_batch": serial,
            "failure_description": "油泵密封圈处漏油",
            "quantity_affected": 1,
        },
    )
    notice = await api.call(
        "quality",
        "POST",
        "rectification",
        f"/v1/quality-reports/{report['report_id']}/notices",
        {
            "recipient": "supplier",
            "supplier_id": supplier["supplier_id"],
            "requirement": "请于期限内提交8D报告",
            "due_date": in_days(14),
        },
    )
    unmatched = await new_complaint(
        api.stack,
        api.identity,
        title="其他问题",
        description="希望贵公司能在我们县城开一家门店。",  # no triage rule: the manual queue
    )

    async def queued() -> Any:
        answer = await api.http.get(
            f"{api.stack.url('routing')}/v1/triage/{unmatched['id']}",
            headers=headers_of(api.identity, "csc"),
        )  # 404 until routing has consumed the complaint
        return answer.status_code == 200 and answer.json()["status"] == "manual_triage"

    await eventually_async(queued, timeout=60, interval=0.2, what="the manual triage queue")
    unknown = f"+86 136 {secrets.randbelow(10**8):08d}"
    return {
        "cid": cid,
        "ref": made["reference"],
        "rid": instruction["rectification_id"],
        "nid": notice["rectification_id"],
        "qid": report["report_id"],
        "sid": supplier["supplier_id"],
        "mid": str(unmatched["id"]),
        "mref": unmatched["reference"],
        "phone": phone.replace("+", "%2B").replace(" ", "%20"),
        "unknown": unknown.replace("+", "%2B").replace(" ", "%20"),
    }


#: Who tours which screens, in groups small enough to run side by side (one test
#: each): the whole walk in one test took five minutes on a loaded machine.
TOURS: dict[str, list[tuple[str, list[Visit]]]] = {
    # The agent: home, the hotline empty, with a caller's card, the confirmation.
    "agent": [
        (
            "agent",
            [
                ("home", "/", None),
                ("hotline-empty", "/hotline", "#q"),
                ("hotline-caller-card", "/hotline?q={phone}", "#caller-card"),
                (
                    "hotline-field-error",
                    "/hotline?q={unknown}",
                    "#customer_name-error",
                    without_a_name,
                ),
                ("hotline-received", "/hotline/received/{cid}", "#reference"),
                ("worklist-agent", "/worklist", "#worklist-agent"),
            ],
        )
    ],
    # The CSC: triage queue, "My work", the complaint page, search.
    "csc": [
        (
            "csc",
            [
                ("triage-queue", "/triage", "#triage-queue >> text={mref}"),
                ("complaint-page-manual-triage", "/complaints/{mid}", "#triage-override"),
                ("worklist-csc", "/worklist", "#worklist-csc"),
                ("complaint-page", "/complaints/{cid}", "#panel-case [data-field]"),
                ("search-empty", "/search", "#s-q"),
                ("search-results", "/search?customer_name=苏州华东动力", ".result-total"),
            ],
        )
    ],
    # After-sales: its rectification from "My work" and the list. Quality: the report.
    "after_sales-quality": [
        (
            "after_sales",
            [
                ("worklist-department", "/worklist", "#worklist-department"),
                ("rectifications", "/rectifications", "h1"),
                ("rectification-page", "/rectifications/{rid}", "#rect-status"),
            ],
        ),
        (
            "quality",
            [
                ("worklist-quality", "/worklist", "#worklist-quality"),
                ("quality-report", "/quality-reports/{qid}", "#form-notice"),
                ("complaint-page-quality", "/complaints/{cid}", "#panel-case [data-field]"),
            ],
        ),
    ],
    # Supply: the notice, the suppliers.
    "supply": [
        (
            "supply",
            [
                ("worklist-supply", "/worklist", "#worklist-supply"),
                ("supplier-notice", "/rectifications/{nid}", "#rect-status"),
                ("suppliers", "/suppliers", "#form-supplier-new"),
                ("supplier-edit", "/suppliers/{sid}", "#form-supplier-edit"),
            ],
        )
    ],
    # The manager: overdue, digests, operations, "My work"; the admin's operations.
    "manager-admin": [
        (
            "manager",
            [
                ("worklist-manager", "/worklist", "#worklist-manager"),
                ("overdue", "/overdue", "h1"),
                ("overdue-department", "/overdue?department=after_sales", "h1"),
                ("rectification-waiver", "/rectifications/{rid}", "#form-waiver"),
                ("digests", "/digests", "h1"),
                ("digests-month", "/digests?kind=month", "h1"),
                ("ops-manager", "/ops", "h1"),
            ],
        ),
        (
            "admin",
            [
                ("ops-admin", "/ops", "h1"),
                ("dead-letters", "/ops/routing/dead-letters", "h1"),
            ],
        ),
    ],
    # Errors: an unknown complaint (404), a page the role may not see (the service's
    # 403 as a message); then the signed-out page (below).
    "errors-signed-out": [
        (
            "sales",
            [
                ("error-404", "/complaints/00000000-0000-4000-8000-000000000000", "h1"),
                ("error-403", "/ops", ".alert"),
            ],
        )
    ],
}


@pytest.mark.parametrize("group", sorted(TOURS))
async def test_every_screen_has_no_serious_accessibility_problem_in_either_language(
    group: str, api: Api, people: People
) -> None:
    ids = await arrange(api)
    problems: dict[str, Any] = {}
    for user, visits in TOURS[group]:
        person = await people.sign_in(user)
        await tour(person, visits, **ids)
        if group == "errors-signed-out":
            await person.page.click("header form[action='/auth/logout'] button")
            await person.page.click("button[name=logout]")  # the provider asks to confirm
            await person.page.wait_for_url("**/auth/signed-out*", timeout=TIMEOUT)
            await person.check("signed-out", "h1")
        problems |= person.problems
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


async def forged(person: Person, path: str, form: dict[str, str], *, htmx: bool = False) -> str:
    """A form post the page did not offer, with the page's own CSRF token: the
    service's 403, shown as a message (a 403 page, or for htmx the panel's fragment
    with the refusal in it)."""
    headers = {"HX-Request": "true"} if htmx else {}
    answer = await person.page.request.post(
        f"{person.url}{path}",
        form={"csrf": await person.csrf(), **form},
        headers=headers,
        max_redirects=0,
    )
    text = await answer.text()
    # htmx swaps only a 2xx answer: the panel comes back whole with the refusal in it
    assert answer.status == (200 if htmx else 403), (path, answer.status, text[:500])
    assert "没有权限" in text and 'class="alert error"' in text, (path, text[:500])
    return text


async def test_forbidden_forms_are_absent_and_a_forged_post_is_the_services_403(
    console_url: str, api: Api, people: People
) -> None:
    tag = secrets.token_hex(3).upper()
    made = await api.cased(
        title=f"仪表盘报警 {tag}", description="仪表盘报警灯常亮，怀疑传感器故障"
    )
    cid = str(made["id"])
    instruction = await api.call(
        "csc",
        "POST",
        "rectification",
        f"/v1/cases/{cid}/instructions",
        {"department": "after_sales", "instruction": "检查传感器线束", "due_date": in_days(5)},
    )
    rid = instruction["rectification_id"]
    report = await api.call(
        "csc",
        "POST",
        "rectification",
        f"/v1/cases/{cid}/quality-reports",
        {
            "product_model": "YC4S-150",
            "serial_or_batch": f"FB-{tag}",
            "failure_description": "水温传感器失效",
            "quantity_affected": 1,
        },
    )
    qid = report["report_id"]

    async def triage() -> Any:
        return await api.call("csc", "GET", "routing", f"/v1/triage/{cid}")

    async def rects() -> Any:
        return await api.call("csc", "GET", "rectification", f"/v1/cases/{cid}/rectifications")

    triage_before, rects_before = await triage(), await rects()

    # The agent on the complaint page: no triage override and no instruction form;
    # forged, each is the service's 403 (the triage one as htmx: the panel's fragment).
    agent = await people.sign_in("agent", f"/complaints/{cid}")
    await agent.settled("#panel-case [data-field=status]")
    assert await agent.page.locator("#triage-override, #case-form-instructions").count() == 0
    fragment = await forged(
        agent,
        f"/complaints/{cid}/panels/triage/override",
        {"category": "service", "urgency": "urgent", "owner_department": "sales", "reason": "伪造"},
        htmx=True,
    )
    assert "<html" not in fragment  # the panel, not a whole page
    await forged(
        agent,
        f"/complaints/{cid}/panels/case/instructions",
        {"department": "sales", "instruction": "伪造的指令", "due_date": in_days(3)},
    )

    # After-sales, the recipient, may report its rectification done, not waive it;
    # the CSC may verify, not waive (a manager's act).
    for user in ("after_sales", "csc"):
        person = await people.sign_in(user, f"/rectifications/{rid}")
        await person.settled("#rect-status")
        assert await person.page.locator("#form-waiver").count() == 0, user
        await forged(person, f"/rectifications/{rid}/waiver", {"reason": "伪造的豁免"})

    # Supply may read the quality report, not turn it into a notice (Quality's act).
    supply = await people.sign_in("supply", f"/quality-reports/{qid}")
    await supply.settled("#report-failure")
    assert await supply.page.locator("#form-notice").count() == 0
    await forged(
        supply,
        f"/quality-reports/{qid}/notices",
        {
            "recipient": "internal",
            "department": "production",
            "requirement": "伪造",
            "due_date": in_days(7),
        },
    )

    # A department has no supplier register; a forged new supplier is refused.
    sales = await people.sign_in("sales")
    assert "供应商" not in await sales.page.inner_text("nav")
    await forged(
        sales,
        "/suppliers",
        {
            "code": f"X-{tag}",
            "name": "伪造供应商",
            "contact_name_0": "某人",
            "contact_email_0": "x@forged.example.cn",
        },
    )

    # Nothing changed in the services.
    assert await triage() == triage_before
    assert await rects() == rects_before
    assert (await api.call("csc", "GET", "rectification", f"/v1/rectifications/{rid}"))[
        "status"
    ] == "in_progress"
    found = await api.call("supply", "GET", "rectification", f"/v1/suppliers?q=X-{tag}")
    assert found["total"] == 0
