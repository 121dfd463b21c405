"""The console's reads at 100,000 complaints (issue 15), beside a bare ceiling.

    python bench/bench_console.py                      # 100,000 complaints, SQLite, ~5 min
    python bench/bench_console.py --quick              # 5,000 complaints, 50 requests per call
    python bench/bench_console.py --backend postgresql # the same on a throw-away PostgreSQL

Issue 15 asks, with 100,000 complaints loaded: console page server time p95 <
150 ms for the worklists, the complaint page and search; hotline caller lookup
to a ready form < 300 ms.

1. Seed (bench/seed_complaints.py). The pipeline files ~30 complaints/s here, so
   100,000 through it would take about an hour: this bench writes the four
   services' tables directly, with their own ORM metadata, after ``tousu
   migrate``, as if the pipeline had processed every complaint (customers with
   phones and serials, Chinese texts, triages and SLA clocks spread over the
   departments with some breached, cases in every state, an acknowledgement
   sent for each). It then starts the stack on those databases and checks them
   through the APIs: 20 random complaints answer 200 with the right reference
   from every API the console's pages call.
2. Measure, one request at a time (server time as a loopback client sees it,
   nothing else in flight), ``--requests`` per call with random ids, phones,
   customers, names, bounded by ``--seconds-per-call``: each service API call
   the console's pages make, with a token of the person who would make it; the
   two hotline calls in sequence (what ``/hotline?phone=`` waits for); the bare
   ceiling (bench/ceiling_app.py, a GET with a path parameter, same uvicorn
   flags) in the same run; and, when the console serves them (routes answering
   404 are reported "not built"), the console's pages with a session cookie of
   a person signed in through the provider's login page in Chromium.

Only loopback; every loop bounded in count and time. Results are printed as a
Markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from common import ms, percentile, start_ceiling, start_postgres
from seed_complaints import Seeded, seed, sqlite_urls

from tousu_common.devstack import ALL_SERVICES, CONSOLE, SERVICES, Stack, free_port
from tousu_common.oidc_dev import DevIdentityProvider

TARGET_MS = 150
HOTLINE_TARGET_MS = 300
#: Search words people type for a caller: surnames and parts of company names.
NAME_WORDS = ("王", "李建国", "物流", "运输有限公司", "重庆", "张", "工程机械", "陈")


@dataclass
class Timing:
    name: str
    group: str
    seconds: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    note: str = ""

    def row(self, ceiling_p50: float) -> str:
        p50, p95 = percentile(self.seconds, 0.5), percentile(self.seconds, 0.95)
        target = HOTLINE_TARGET_MS if self.group == "hotline" else TARGET_MS
        verdict = "–" if p95 != p95 else ("yes" if p95 * 1000 < target else "**no**")
        if self.note:
            verdict = f"{verdict}, {self.note}" if self.seconds else self.note
        ratio = f"{p50 / ceiling_p50:.1f}" if ceiling_p50 and p50 == p50 else "–"
        errors = ", ".join(f"{k}×{v}" for k, v in sorted(self.errors.items())) or "0"
        return (
            f"| {self.group} | {self.name} | {len(self.seconds)} | {ms(self.seconds, 0.5)} | "
            f"{ms(self.seconds, 0.95)} | {ms(self.seconds, 0.99)} | {ratio} | {errors} | "
            f"{verdict} |"
        )


class Bench:
    def __init__(self, stack: Stack, identity: DevIdentityProvider, data: Seeded, args: Any):
        self.stack = stack
        self.identity = identity
        self.data = data
        self.args = args
        self.rng = random.Random(15)
        self.client = httpx.AsyncClient(timeout=30)
        self.tokens: dict[tuple[str, str | None], dict[str, str]] = {}

    def headers(self, role: str, department: str | None) -> dict[str, str]:
        key = (role, department)
        if key not in self.tokens:
            token = self.identity.test_token(
                f"bench-{role}-{department}", [role], department, ttl=4 * 3600
            )
            self.tokens[key] = {"Authorization": f"Bearer {token}"}
        return self.tokens[key]

    def url(self, service: str, path: str) -> str:
        return self.stack.url(service) + path

    # -- picking realistic requests ---------------------------------------------

    def any_complaint(self) -> int:
        return self.rng.randrange(len(self.data.complaint_ids))

    def any_customer(self) -> Any:
        return self.rng.choice(self.data.customers)

    # -- measuring --------------------------------------------------------------

    async def time(
        self, timing: Timing, call: Callable[[], Awaitable[list[httpx.Response]]]
    ) -> Timing:
        deadline = time.monotonic() + self.args.seconds_per_call
        for _ in range(2):  # warm the connection and the caches a little
            await call()
        for _ in range(self.args.requests):
            if time.monotonic() > deadline:
                timing.note = f"(stopped at {self.args.seconds_per_call} s)"
                break
            started = time.perf_counter()
            responses = await call()
            elapsed = time.perf_counter() - started
            # A redirect (to sign-in, say) is not the page: counted as an error too,
            # except the search's answer to an exact reference (to the complaint page).
            bad = [
                r.status_code
                for r in responses
                if not 200 <= r.status_code < 300
                and not (r.status_code == 303 and r.headers["location"].startswith("/complaints/"))
            ]
            if bad:
                timing.errors[bad[0]] = timing.errors.get(bad[0], 0) + 1
            else:
                timing.seconds.append(elapsed)
        return timing

    async def get(self, service: str, path: str, headers: dict[str, str], **params: Any):
        return await self.client.get(self.url(service, path), headers=headers, params=params)

    async def api_calls(self) -> list[Timing]:
        d = self.data
        csc = self.headers("csc", "csc")
        agent = self.headers("agent", "csc")
        departments = sorted(set(d.departments) - {"csc"})

        def dept() -> tuple[str, dict[str, str]]:
            name = self.rng.choice(departments)
            role = name if name in ("quality", "supply") else "department"
            return name, self.headers(role, name)

        async def one(service: str, path: str, headers: dict[str, str], **params: Any):
            return [await self.get(service, path, headers, **params)]

        def page_call(service: str, path: str) -> Callable[[], Awaitable[list[httpx.Response]]]:
            async def call() -> list[httpx.Response]:
                complaint_id = d.complaint_ids[self.any_complaint()]
                return await one(service, path.format(id=complaint_id), csc)

            return call

        async def dept_worklist() -> list[httpx.Response]:
            _, headers = dept()
            return await one("routing", "/v1/worklists/department", headers, limit=50)

        async def dept_actions() -> list[httpx.Response]:
            _, headers = dept()
            return await one("rectification", "/v1/worklist", headers)

        async def dept_page() -> list[httpx.Response]:
            _, headers = dept()
            first = await self.get("routing", "/v1/worklists/department", headers, limit=50)
            return [first, await self.get("rectification", "/v1/worklist", headers)]

        async def csc_cases() -> list[httpx.Response]:
            offset = self.rng.choice((0, 0, 0, 50, 100))
            return await one(
                "rectification", "/v1/cases", csc, all_departments="true", limit=50, offset=offset
            )

        async def csc_actions() -> list[httpx.Response]:
            return await one("rectification", "/v1/worklist", csc)

        async def notifications() -> list[httpx.Response]:
            complaint_id = d.complaint_ids[self.any_complaint()]
            return await one("notify", "/v1/notifications", csc, complaint_id=str(complaint_id))

        async def by_reference() -> list[httpx.Response]:
            return await one(
                "intake", "/v1/complaints", agent, reference=d.references[self.any_complaint()]
            )

        async def by_phone() -> list[httpx.Response]:
            return await one("intake", "/v1/complaints", agent, phone=self.any_customer().phone)

        async def by_customer() -> list[httpx.Response]:
            return await one(
                "intake", "/v1/complaints", agent, customer_id=str(self.any_customer().id)
            )

        async def by_word() -> list[httpx.Response]:
            word = self.rng.choice(NAME_WORDS)
            return await one("intake", "/v1/complaints", agent, customer_name=word)

        async def by_name() -> list[httpx.Response]:
            name = self.any_customer().name
            return await one("intake", "/v1/complaints", agent, customer_name=name)

        async def lookup() -> list[httpx.Response]:
            return await one(
                "intake", "/v1/customers/lookup", agent, phone=self.any_customer().phone
            )

        async def hotline() -> list[httpx.Response]:
            phone = self.any_customer().phone
            first = await self.get("intake", "/v1/customers/lookup", agent, phone=phone)
            second = await self.get("intake", "/v1/complaints", agent, phone=phone, open="true")
            return [first, second]

        plan: list[tuple[str, str, Callable[[], Awaitable[list[httpx.Response]]]]] = [
            (
                "department worklist",
                "routing `GET /v1/worklists/department` (department staff)",
                dept_worklist,
            ),
            (
                "department worklist",
                "rectification `GET /v1/worklist` (department staff)",
                dept_actions,
            ),
            (
                "department worklist",
                "both, in sequence (what `/worklist/department` waits for)",
                dept_page,
            ),
            ("CSC worklist", "rectification `GET /v1/cases?all_departments=true` (csc)", csc_cases),
            ("CSC worklist", "rectification `GET /v1/worklist` (csc; My work)", csc_actions),
            (
                "complaint page",
                "intake `GET /v1/complaints/{id}`",
                page_call("intake", "/v1/complaints/{id}"),
            ),
            (
                "complaint page",
                "routing `GET /v1/triage/{id}`",
                page_call("routing", "/v1/triage/{id}"),
            ),
            (
                "complaint page",
                "routing `GET /v1/triage/{id}/history`",
                page_call("routing", "/v1/triage/{id}/history"),
            ),
            (
                "complaint page",
                "rectification `GET /v1/cases/{id}`",
                page_call("rectification", "/v1/cases/{id}"),
            ),
            (
                "complaint page",
                "rectification `GET /v1/cases/{id}/rectifications`",
                page_call("rectification", "/v1/cases/{id}/rectifications"),
            ),
            ("complaint page", "notify `GET /v1/notifications?complaint_id=`", notifications),
            ("search", "intake `GET /v1/complaints?reference=`", by_reference),
            ("search", "intake `GET /v1/complaints?phone=`", by_phone),
            ("search", "intake `GET /v1/complaints?customer_id=`", by_customer),
            (
                "search",
                "intake `GET /v1/complaints?customer_name=` (a common word: 王, 物流)",
                by_word,
            ),
            (
                "search",
                "intake `GET /v1/complaints?customer_name=` (a customer's full name)",
                by_name,
            ),
            ("hotline", "intake `GET /v1/customers/lookup?phone=`", lookup),
            (
                "hotline",
                "lookup + `GET /v1/complaints?phone=&open=true`, in sequence "
                "(what `/hotline?phone=` waits for)",
                hotline,
            ),
        ]
        results = []
        for group, name, call in plan:
            timing = await self.time(Timing(name, group), call)
            print(f"  {group}: {name}: p95 {ms(timing.seconds, 0.95)} ms", flush=True)
            results.append(timing)
        return results

    async def ceiling(self) -> Timing:
        port = free_port()
        process = start_ceiling(port, self.stack.var_dir / "ceiling.log")
        try:

            async def call() -> list[httpx.Response]:
                complaint_id = self.data.complaint_ids[self.any_complaint()]
                return [
                    await self.client.get(f"http://127.0.0.1:{port}/v1/complaints/{complaint_id}")
                ]

            return await self.time(
                Timing("bare ceiling: FastAPI GET, same uvicorn flags", "ceiling"), call
            )
        finally:
            process.terminate()
            process.wait(10)

    async def verify(self, sample: int = 20) -> None:
        """Every API the pages call answers 200 with the right reference."""
        csc = self.headers("csc", "csc")
        problems = []
        for index in self.rng.sample(range(len(self.data.complaint_ids)), sample):
            cid, ref = self.data.complaint_ids[index], self.data.references[index]
            checks = {
                "intake": (await self.get("intake", f"/v1/complaints/{cid}", csc)),
                "triage": (await self.get("routing", f"/v1/triage/{cid}", csc)),
                "history": (await self.get("routing", f"/v1/triage/{cid}/history", csc)),
                "case": (await self.get("rectification", f"/v1/cases/{cid}", csc)),
                "rects": (await self.get("rectification", f"/v1/cases/{cid}/rectifications", csc)),
                "notify": (
                    await self.get("notify", "/v1/notifications", csc, complaint_id=str(cid))
                ),
                "search": (await self.get("intake", "/v1/complaints", csc, reference=ref)),
            }
            for what, response in checks.items():
                if response.status_code != 200:
                    problems.append(f"{what} {cid}: {response.status_code} {response.text[:200]}")
                    continue
                body = response.json()
                if what in ("intake", "triage", "case") and body.get("reference") != ref:
                    problems.append(f"{what} {cid}: reference {body.get('reference')} != {ref}")
                if what == "history" and not body:
                    problems.append(f"history {cid}: empty")
                if what == "notify" and not any(n["reference"] == ref for n in body):
                    problems.append(f"notify {cid}: no acknowledgement for {ref}")
                if what == "search" and [i["id"] for i in body["items"]] != [str(cid)]:
                    problems.append(f"search {ref}: {body['items']}")
        if problems:
            raise SystemExit("seeded data not served consistently:\n" + "\n".join(problems))
        print(f"  verified {sample} complaints through every API", flush=True)

    async def console_pages(self) -> list[Timing]:
        """The console's pages with a session cookie; routes answering 404: not built."""
        from playwright.async_api import async_playwright

        from tousu_common.browser import launch_options

        base = self.stack.url(CONSOLE.name)
        cookies: dict[str, dict[str, str]] = {}
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**launch_options())
            try:
                for user in ("csc", "agent", "sales"):
                    context = await browser.new_context(locale="zh-CN")
                    page = await context.new_page()
                    await page.goto(f"{base}/")
                    await page.fill("#username", user)
                    await page.fill("#password", self.identity.password(user))
                    await page.click("#sign-in")
                    await page.wait_for_url(f"{base}/*", timeout=60_000)
                    cookies[user] = {c["name"]: c["value"] for c in await context.cookies()}
                    await context.close()
            finally:
                await browser.close()
        d = self.data
        ids = d.complaint_ids
        pick = lambda: ids[self.any_complaint()]  # noqa: E731
        pages: list[tuple[str, str, str]] = [
            ("department worklist", "sales", "/worklist/complaints"),
            ("department worklist", "sales", "/worklist/department"),
            ("CSC worklist", "csc", "/worklist/csc"),
            ("complaint page", "csc", "/complaints/{id}"),
            *[
                ("complaint page", "csc", f"/complaints/{{id}}/panels/{panel}")
                for panel in (
                    "summary",
                    "timeline",
                    "triage",
                    "case",
                    "rectifications",
                    "notifications",
                )
            ],
            ("search", "agent", "/search?reference={ref}"),
            ("search", "agent", "/search?phone={phone}"),
            ("search", "agent", "/search?customer_name={name}"),
            ("hotline", "agent", "/hotline?phone={phone}"),
        ]
        results = []
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
            for group, user, template in pages:

                def path(template: str = template) -> str:
                    return template.format(
                        id=pick(),
                        ref=quote(d.references[self.any_complaint()]),
                        phone=quote(self.any_customer().phone),  # "+" is no space
                        name=quote(self.any_customer().name),
                    )

                timing = Timing(f"console `GET {template}` ({user})", group)
                # Every id and phone exists: a 404 here is a route not built (yet).
                # Panels are fetched by htmx, which says so (the route answers a fragment).
                extra = {"HX-Request": "true"} if "/panels/" in template else {}
                probe = await client.get(base + path(), cookies=cookies[user], headers=extra)
                if probe.status_code == 404:
                    timing.note = "not built (404)"
                    results.append(timing)
                    print(f"  console {template}: not built", flush=True)
                    continue

                async def call(
                    client: httpx.AsyncClient = client,
                    user: str = user,
                    path: Any = path,
                    extra: dict[str, str] = extra,
                ) -> list[httpx.Response]:
                    return [await client.get(base + path(), cookies=cookies[user], headers=extra)]

                await self.time(timing, call)
                print(f"  console {template}: p95 {ms(timing.seconds, 0.95)} ms", flush=True)
                results.append(timing)
        return results


def report(
    args: Any,
    data: Seeded,
    seed_s: float,
    timings: list[Timing],
    ceiling: Timing,
    load: tuple[float, float, float],
    command: str,
) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    c50 = percentile(ceiling.seconds, 0.5)
    rows = sum(data.rows.values())
    lines = [
        f"#### {stamp} — console reads, {len(data.complaint_ids):,} complaints, {args.backend}",
        "",
        f"Command: `{command}`",
        f"Machine: 2 cores shared by the driver, the broker, the five services"
        f"{' and PostgreSQL' if args.backend == 'postgresql' else ''}; load average "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) at the start of the "
        f"measurements. Requests one at a time (nothing else in flight), random ids, phones, "
        f"customers and names; {args.requests} per call (at most {args.seconds_per_call} s).",
        f"Seed: {len(data.complaint_ids):,} complaints of {len(data.customers):,} customers, "
        f"{rows:,} rows in the four databases, written in {seed_s:.0f} s "
        f"(bench/seed_complaints.py); 20 complaints verified through every API below.",
        "",
        f"| page | call | n | p50 (ms) | p95 (ms) | p99 (ms) | p50 × ceiling | errors | p95 under {TARGET_MS} ms (hotline {HOTLINE_TARGET_MS}) |",
        "|---|---|---|---|---|---|---|---|---|",
        ceiling.row(c50),
        *[t.row(c50) for t in timings],
    ]
    return "\n".join(lines) + "\n"


async def main(args: Any) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tousu-bench-console-"))
    cluster = None
    urls: dict[str, str] = {}
    if args.backend == "postgresql":
        cluster, urls, _ = start_postgres()
    console_port = free_port()
    console = f"http://127.0.0.1:{console_port}"
    identity = DevIdentityProvider(
        workdir / "oidc",
        redirect_uris=[f"{console}/auth/callback"],
        post_logout_redirect_uris=[f"{console}/auth/signed-out"],
        test_issuance=True,
        access_token_ttl=3600,
        log_path=workdir / "provider.log",
    )
    (workdir / "oidc").mkdir()
    stack = Stack(
        var_dir=workdir / "stack",
        services=ALL_SERVICES,
        database_urls=urls,
        ports={**{s.name: free_port() for s in ALL_SERVICES}, CONSOLE.name: console_port},
        identity=identity,
    )
    try:
        stack.var_dir.mkdir(parents=True)
        print(
            f"migrating and seeding {args.complaints:,} complaints ({args.backend}) …", flush=True
        )
        # The four domain services' schemas first (the stack migrates again: a no-op).
        Stack(var_dir=stack.var_dir, database_urls=urls, services=SERVICES).migrate_all()
        data = await seed(urls or sqlite_urls(stack.var_dir), args.complaints)
        print(f"  seeded in {data.seconds:.1f} s: {dict(data.rows)}", flush=True)
        stack.start(timeout=180)
        bench = Bench(stack, identity, data, args)
        try:
            await bench.verify()
            load = os.getloadavg()
            ceiling = await bench.ceiling()
            print(f"  ceiling p95 {ms(ceiling.seconds, 0.95)} ms", flush=True)
            timings = await bench.api_calls()
            if not args.no_pages:
                try:
                    timings += await bench.console_pages()
                except Exception as exc:  # the API figures still count
                    print(f"  console pages not measured: {exc!r}", flush=True)
        finally:
            await bench.client.aclose()
        command = "python bench/bench_console.py " + " ".join(sys.argv[1:])
        text = report(args, data, data.seconds, timings, ceiling, load, command.strip())
        print("\n" + text)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text)
    finally:
        stack.stop()
        identity.stop()
        if cluster is not None:
            cluster.stop()  # type: ignore[attr-defined]
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def parse(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--complaints", type=int, help="default 100,000 (--quick: 5,000)")
    parser.add_argument("--requests", type=int, help="per call, after 2 warm-ups (200; 50)")
    parser.add_argument("--seconds-per-call", type=float, help="bound per call (90 s; 20 s)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="5,000 complaints, 50 requests")
    parser.add_argument("--no-pages", action="store_true", help="service APIs only")
    parser.add_argument("--output", help="also write the Markdown section here")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = parser.parse_args(argv)
    quick = {"complaints": 5000, "requests": 50, "seconds_per_call": 20.0}
    full = {"complaints": 100_000, "requests": 200, "seconds_per_call": 90.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
