"""Amending a complaint: follow-up note, second call, reply mail, web addition or
transcription — row, attachments and ``complaint.amended`` in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from tousu_common.db import Database
from tousu_common.errors import InvalidInput, NotFound
from tousu_common.events.catalog import AmendmentKind
from tousu_common.logs import bind
from tousu_intake.adapters.attachments import store_attachments
from tousu_intake.adapters.orm import AmendmentRow
from tousu_intake.adapters.unit_of_work import unit_of_work
from tousu_intake.config import Settings
from tousu_intake.domain.files import IncomingFile, check_files

MAX_TEXT = 20_000


@dataclass(frozen=True)
class Amendment:
    id: UUID
    complaint_id: UUID
    reference: str
    kind: AmendmentKind
    text: str
    by: str
    from_customer: bool
    amended_at: datetime
    attachments: list[UUID] = field(default_factory=list)
    status: str = ""  # the complaint's status afterwards


async def amend_complaint(
    db: Database,
    settings: Settings,
    *,
    complaint_id: UUID,
    kind: AmendmentKind,
    text: str,
    by: str,
    from_customer: bool,
    files: list[IncomingFile] | tuple[IncomingFile, ...] = (),
) -> Amendment:
    """Attach follow-up information to an existing complaint (never a new one).

    A ``transcription`` also replaces the complaint's text and ends its wait
    for one (409 if it was not waiting). Raises NotFound for an unknown complaint
    and InvalidInput for empty or oversized text or bad files.
    """
    complaint_id = UUID(str(complaint_id))
    text = text.strip()
    if not text and not files:
        raise InvalidInput(
            "text: give some text or a file", fields=[{"field": "text", "problem": "empty"}]
        )
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"text: at most {MAX_TEXT} characters",
            fields=[{"field": "text", "problem": f"longer than {MAX_TEXT} characters"}],
        )
    if kind is AmendmentKind.transcription and not text:
        raise InvalidInput(
            "text: a transcription needs the text", fields=[{"field": "text", "problem": "empty"}]
        )
    files = list(files)
    check_files(settings, files)
    now = datetime.now(UTC)
    async with unit_of_work(db) as uow:
        complaint = await uow.complaints.get(complaint_id, for_update=True)
        if complaint is None:
            raise NotFound(f"complaint {complaint_id} does not exist")
        bind(complaint_id=str(complaint_id))
        complaint.amend(
            kind=kind,
            text=text,
            by=by,
            from_customer=from_customer,
            at=now,
            attachment_count=len(files),
        )
        amendment_id = uuid4()
        await uow.complaints.add_amendment(
            AmendmentRow(
                id=amendment_id,
                complaint_id=complaint_id,
                kind=kind.value,
                text=text,
                by=by[:100],
                from_customer=from_customer,
                amended_at=now,
            )
        )
        attachments = await store_attachments(
            uow.session,
            settings,
            complaint_id,
            files,
            source=f"amendment:{kind.value}",
            amendment_id=amendment_id,
        )
        await uow.complaints.update(complaint)
    return Amendment(
        id=amendment_id,
        complaint_id=complaint_id,
        reference=complaint.reference,
        kind=kind,
        text=text,
        by=by,
        from_customer=from_customer,
        amended_at=now,
        attachments=[a.id for a in attachments],
        status=complaint.status,
    )
