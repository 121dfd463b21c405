"""Filing and amending from the public channels (e-mail, web form, tracking page).

The one seam through which the e-mail and web code reaches the complaint
aggregate: filing goes through :func:`tousu_intake.handlers.receive.receive`
(customer lookup or provisional customer, reference, attachments,
``complaint.received``) and amending through
:func:`tousu_intake.handlers.amend.amend_complaint`, exactly like every other
channel. What only these channels need lives here: keeping the files a
stranger sent that intake accepts (a mail is never refused for its
attachments) and the customer's answer to a proposed plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from tousu_common.db import Database
from tousu_common.errors import TousuError
from tousu_common.events import new_event
from tousu_common.events.catalog import (
    AmendmentKind,
    Channel,
    CustomerDecision,
    ResolutionDecisionReceived,
)
from tousu_common.messaging.outbox import add_event
from tousu_intake.adapters.repository import SOURCE
from tousu_intake.adapters.unit_of_work import Session
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.files import IncomingFile, check_files
from tousu_intake.handlers.amend import Amendment, amend_complaint
from tousu_intake.handlers.receive import Idempotency, receive


@dataclass(frozen=True)
class Filed:
    complaint_id: UUID
    reference: str
    tracking_token: str
    replayed: bool = False


async def file_complaint(
    db: Database,
    settings: Settings,
    command: ReceiveFromChannel,
    *,
    received_by: str,
    idempotency: Idempotency | None = None,
) -> Filed:
    receipt = await receive(db, settings, command, received_by=received_by, idempotency=idempotency)
    return Filed(
        UUID(receipt.body["id"]),
        receipt.body["reference"],
        receipt.body["tracking_token"],
        receipt.replayed,
    )


async def amend_from_customer(
    db: Database,
    settings: Settings,
    *,
    complaint_id: UUID,
    kind: AmendmentKind,
    text: str,
    files: list[IncomingFile],
) -> Amendment:
    return await amend_complaint(
        db,
        settings,
        complaint_id=complaint_id,
        kind=kind,
        text=text,
        by="customer",
        from_customer=True,
        files=files,
    )


def acceptable_files(
    settings: Settings, files: list[IncomingFile]
) -> tuple[list[IncomingFile], list[tuple[str, str]]]:
    """The files intake will keep, and (name, problem) for each one it will not —
    for mail, which must be filed even when an attachment is refused."""
    kept: list[IncomingFile] = []
    refused: list[tuple[str, str]] = []
    for incoming in files:
        try:
            check_files(settings, [*kept, incoming])
        except TousuError as exc:
            problem = exc.fields[-1]["problem"] if exc.fields else exc.message
            refused.append((incoming.filename, problem))
            continue
        kept.append(incoming)
    return kept, refused


def file_problem(settings: Settings, files: list[IncomingFile]) -> str | None:
    """Why some of these files cannot be accepted, naming each; None if all can."""
    _, refused = acceptable_files(settings, files)
    if not refused:
        return None
    return "; ".join(f"{name}: {problem}" for name, problem in refused)


async def record_decision(
    session: Session,
    *,
    complaint_id: UUID,
    reference: str,
    plan_version: int,
    decision: CustomerDecision,
    comment: str | None,
    via: Channel,
) -> None:
    """The customer's answer to a proposed plan, for rectification to apply."""
    event = ResolutionDecisionReceived(
        complaint_id=complaint_id,
        reference=reference,
        plan_version=plan_version,
        decision=decision,
        comment=comment[:5000] if comment else None,
        via=via,
        decided_at=datetime.now(UTC),
    )
    await add_event(session, new_event(event, source=SOURCE))
