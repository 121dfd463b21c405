"""Small factories for events notify consumes, and real loopback HTTP servers that
stand in for the outside world (SMS gateway, webhook receiver, another service's API)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID, uuid4

from tousu_common.events import Event, new_event
from tousu_common.events.catalog import (
    CallbackDone,
    Channel,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintReassigned,
    ComplaintReceived,
    ComplaintTriaged,
    CustomerTier,
    DigestPublished,
    NoticeDispatched,
    RectificationFeedbackRequested,
    RectificationInstructed,
    RectificationKind,
    RectificationNoticeIssued,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionImplemented,
    ResolutionProposed,
    SlaBreached,
    SlaClock,
    SlaWarning,
    Urgency,
)

NOW = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
REFERENCE = "TS-2026-000777"


def received(complaint_id: UUID | None = None, *, language: str = "zh", **extra: Any) -> Event:
    return new_event(
        ComplaintReceived(
            complaint_id=complaint_id or uuid4(),
            reference=extra.pop("reference", REFERENCE),
            channel=Channel.web,
            received_at=NOW,
            title="发动机异响",
            description="客户王先生，电话 138 0000 0000，反映发动机异响。",
            language=language,
            **extra,
        ),
        source="tousu/intake",
    )


def triaged(complaint_id: UUID | None = None, owner: str = "quality", **extra: Any) -> Event:
    return new_event(
        ComplaintTriaged(
            complaint_id=complaint_id or uuid4(),
            reference=REFERENCE,
            category=ComplaintCategory.product_quality,
            urgency=extra.pop("urgency", Urgency.urgent),
            owner_department=owner,
            decided_by="rules",
            ruleset_version="2026.11-1",
            triaged_at=NOW,
            customer_tier=extra.pop("customer_tier", CustomerTier.key),
            first_response_due=NOW + timedelta(hours=1),
            resolution_plan_due=NOW + timedelta(hours=12),
            **extra,
        ),
        source="tousu/routing",
    )


def sla(kind: type = SlaBreached, complaint_id: UUID | None = None, owner: str = "csc") -> Event:
    return new_event(
        kind(
            complaint_id=complaint_id or uuid4(),
            reference=REFERENCE,
            clock=SlaClock.first_response,
            started_at=NOW,
            due_at=NOW + timedelta(hours=2),
            owner_department=owner,
            urgency=Urgency.urgent,
            customer_tier=CustomerTier.strategic,
            raised_at=NOW + timedelta(hours=2),
        ),
        source="tousu/routing",
    )


def case_fields(complaint_id: UUID | None) -> dict[str, Any]:
    return {
        "complaint_id": complaint_id or uuid4(),
        "reference": REFERENCE,
        "case_id": uuid4(),
        "by": "csc-li",
        "at": NOW,
    }


def proposed(complaint_id: UUID | None = None, description: str = "更换喷油器") -> Event:
    return new_event(
        ResolutionProposed(
            **case_fields(complaint_id),
            plan_version=1,
            actions=[
                ResolutionAction(
                    kind=ResolutionActionKind.replace,
                    description=description,
                    due_date=date(2026, 11, 30),
                )
            ],
        ),
        source="tousu/rectification",
    )


def all_template_events() -> list[Event]:
    """One event for every template a person receives."""
    cid = uuid4()
    rect = {"rectification_id": uuid4(), "department": "sales"}
    return [
        received(cid),
        triaged(cid),
        proposed(cid),
        new_event(
            ResolutionImplemented(**case_fields(cid), plan_version=1), source="tousu/rectification"
        ),
        new_event(
            RectificationFeedbackRequested(
                **case_fields(cid),
                **rect,
                kind=RectificationKind.service_instruction,
                summary="已对服务站人员进行培训。",
            ),
            source="tousu/rectification",
        ),
        new_event(
            ComplaintClosed(
                **case_fields(cid),
                category=ComplaintCategory.service_quality,
                urgency=Urgency.general,
                owner_department="csc",
                opened_at=NOW,
            ),
            source="tousu/rectification",
        ),
        new_event(
            RectificationInstructed(
                **case_fields(cid),
                **rect,
                kind=RectificationKind.service_instruction,
                instruction="调查服务站态度问题",
                due_date=date(2026, 12, 1),
            ),
            source="tousu/rectification",
        ),
        new_event(
            RectificationNoticeIssued(
                **case_fields(cid),
                rectification_id=uuid4(),
                kind=RectificationKind.supplier_notice,
                supplier_id=uuid4(),
                supplier_name="华东配件厂",
                report_id=uuid4(),
                notice_number="RN-2026-0042",
                requirement="喷油器批次质量整改",
                due_date=date(2026, 12, 10),
            ),
            source="tousu/rectification",
        ),
        new_event(
            NoticeDispatched(
                **case_fields(cid),
                rectification_id=uuid4(),
                kind=RectificationKind.supplier_notice,
                supplier_id=uuid4(),
                supplier_name="华东配件厂",
                due_date=date(2026, 12, 10),
            ),
            source="tousu/rectification",
        ),
        new_event(
            ComplaintReassigned(
                complaint_id=cid,
                reference=REFERENCE,
                from_department="csc",
                to_department="logistics",
                reason="交付问题，转物流部",
                by="csc-li",
                reassigned_at=NOW,
            ),
            source="tousu/routing",
        ),
        new_event(
            RectificationNoticeIssued(
                **case_fields(cid),
                rectification_id=uuid4(),
                kind=RectificationKind.internal_notice,
                department="production",
                report_id=uuid4(),
                notice_number="RN-2026-0043",
                requirement="装配工艺整改",
                due_date=date(2026, 12, 10),
            ),
            source="tousu/rectification",
        ),
        sla(SlaWarning, cid),
        sla(SlaBreached, cid),
        new_event(
            ComplaintEscalated(
                complaint_id=cid,
                reference=REFERENCE,
                department="csc",
                reason="首次响应超时",
                clock=SlaClock.first_response,
                by="sla",
                escalated_at=NOW,
            ),
            source="tousu/routing",
        ),
        digest(),
        new_event(
            CallbackDone(**case_fields(cid), score=5, satisfied=True), source="tousu/rectification"
        ),
    ]


def digest(url: str = "http://127.0.0.1:9/v1/digests/week/2026-W47.html") -> Event:
    return new_event(
        DigestPublished(
            complaint_id=uuid4(),
            period_kind="week",
            period="2026-W47",
            period_start=date(2026, 11, 16),
            period_end=date(2026, 11, 22),
            generated_at=NOW,
            received=42,
            closed=30,
            open_backlog=17,
            response_timeliness_rate=0.925,
            completion_rate=0.714,
            url=url,
        ),
        source="tousu/notify",
    )


# -- real HTTP servers on loopback -------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Request], tuple[int, Any]]


@dataclass
class LoopbackServer:
    """A small real HTTP server that records requests and answers with ``respond``."""

    respond: Responder = field(default=lambda request: (200, {"ok": True}))
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                server.requests.append(request)
                status, payload = server.respond(request)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
