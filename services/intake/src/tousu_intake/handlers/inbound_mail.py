"""One inbound mail → a new complaint, an amendment of an existing one, or nothing.

Called by the SMTP listener before it answers ``250``: the raw message is on
disk and its outcome committed before the sending server forgets the mail.
Every message is processed once, keyed by its Message-ID (or, without one,
the sha256 of its bytes):

1. a committed ``inbound_mail`` row *claims* the key (outcome ``processing``);
   a concurrent second delivery of the same message fails on the unique key
   and is told to retry later (451), a later one gets the first outcome;
2. the complaint is filed through the common ``receive`` handler with an
   idempotency key derived from the Message-ID, so even a retry after a crash
   files it once; a reply is threaded onto its complaint with
   ``amend_complaint`` (a crash between amendment and step 3 would amend
   twice on the retry — the one window left, a few milliseconds wide);
3. the row gets its final outcome (with the customer's decision on a
   proposed plan, if the reply clearly gives one, in the same transaction).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from tousu_common.db import Database
from tousu_common.errors import TousuError
from tousu_common.events.catalog import AmendmentKind, Channel
from tousu_common.logs import bind
from tousu_intake.adapters.channels_orm import InboundMailRow
from tousu_intake.adapters.inbound_mail_repository import InboundMailRepository
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.adapters.tracking_repository import ComplaintLookup, TrackingRepository
from tousu_intake.adapters.unit_of_work import ConcurrentWrite, Session
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.customers import normalise_email
from tousu_intake.domain.feedback import asks_for_feedback
from tousu_intake.domain.files import IncomingFile
from tousu_intake.domain.mail_rules import (
    OwnIdentity,
    customer_decision,
    ignore_reason,
    looks_chinese,
    strip_quoted,
    thread_keys,
)
from tousu_intake.domain.mime import MailParseError, ParsedMail, parse_mail
from tousu_intake.handlers.channel_filing import (
    acceptable_files,
    amend_from_customer,
    file_complaint,
    record_decision,
)
from tousu_intake.handlers.feedback import request_feedback
from tousu_intake.handlers.receive import Idempotency

log = logging.getLogger(__name__)

PROCESSING = "processing"
#: A claim older than this belongs to a process that died mid-way: take the mail over.
CLAIM_LEASE = timedelta(minutes=5)


class MailInFlight(Exception):
    """The same message is being processed by another delivery right now (answer 451)."""


@dataclass(frozen=True)
class MailOutcome:
    outcome: str  # filed | amended | ignored | refused
    reason: str | None = None
    complaint_id: UUID | None = None
    reference: str | None = None
    decision: str | None = None
    duplicate: bool = False


def own_identity(settings: Settings) -> OwnIdentity:
    addresses = {
        settings.complaints_mailbox.lower(),
        settings.key_account_mailbox.lower(),
        *(address.lower() for address in settings.mail_own_addresses),
    }
    return OwnIdentity(frozenset(addresses), settings.mail_domain)


def keep_raw(settings: Settings, raw: bytes, received_at: datetime) -> Path:
    """Write the message under ``data_dir/mail/YYYY/MM/DD/`` (atomically); its path."""
    directory = Path(settings.data_dir) / "mail" / received_at.strftime("%Y/%m/%d")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{received_at.strftime('%H%M%S')}-{uuid4().hex}.eml"
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path


async def receive_mail(
    db: Database,
    settings: Settings,
    *,
    raw: bytes,
    envelope_from: str,
    recipient: str,
    key_account: bool,
) -> MailOutcome:
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        mail: ParsedMail | None = parse_mail(raw)
        problem = None
    except MailParseError as exc:
        mail, problem = None, str(exc)
    dedupe_key = (mail.message_id if mail and mail.message_id else f"sha256:{sha256}")[:512]

    async with db.sessions() as session:
        earlier = await InboundMailRepository(session).by_dedupe_key(dedupe_key)
    now = datetime.now(UTC)
    if earlier is not None and earlier.outcome != PROCESSING:
        return MailOutcome(earlier.outcome, earlier.reason, earlier.complaint_id, duplicate=True)
    if earlier is not None:
        # Claimed by a delivery that died mid-way (or is still at work): take it over
        # once its lease has run out, and only if nobody else took it over first.
        if now - earlier.received_at < CLAIM_LEASE or not await _take_over(db, earlier, now):
            raise MailInFlight(dedupe_key)
        row_id = earlier.id
    else:
        row_id = uuid4()
    path = await asyncio.to_thread(keep_raw, settings, raw, now)
    if earlier is None:
        row = InboundMailRow(
            id=row_id,
            dedupe_key=dedupe_key,
            message_id=mail.message_id[:512] if mail and mail.message_id else None,
            received_at=now,
            mailbox=recipient[:320],
            envelope_from=(envelope_from or "")[:320],
            from_address=(mail.from_address or None) if mail else None,
            subject=(mail.subject if mail else "")[:998],
            outcome=PROCESSING,
            reason=None,
            complaint_id=None,
            raw_path=str(path),
            size_bytes=len(raw),
            sha256=sha256,
        )
        try:
            async with db.transaction() as session:
                await InboundMailRepository(session).add(row)
        except ConcurrentWrite as exc:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise MailInFlight(dedupe_key) from exc

    try:
        outcome = await _process(
            db, settings, mail, problem, envelope_from, dedupe_key, key_account, row_id, path
        )
    except Exception:
        # Release the claim so that the sender's retry (after our 451) is processed at once.
        async with db.transaction() as session:
            await InboundMailRepository(session).release(row_id, open_outcome=PROCESSING)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    log.info(
        "inbound mail processed",
        extra={"outcome": outcome.outcome, "reason": outcome.reason, "size": len(raw)},
    )
    return outcome


async def _process(
    db: Database,
    settings: Settings,
    mail: ParsedMail | None,
    problem: str | None,
    envelope_from: str,
    dedupe_key: str,
    key_account: bool,
    row_id: UUID,
    path: Path,
) -> MailOutcome:
    ignored = _ignore_reason(settings, mail, problem, envelope_from)
    if ignored is not None:
        outcome = MailOutcome("ignored", ignored)
        await _finish(db, row_id, outcome, path)
        return outcome
    if mail is None:
        raise RuntimeError("mail is not set")
    try:
        return await _file_or_thread(db, settings, mail, dedupe_key, key_account, row_id, path)
    except TousuError as exc:
        # Something in the mail intake can never accept: tell the sender (554).
        outcome = MailOutcome("refused", f"refused: {exc.message}"[:200])
        await _finish(db, row_id, outcome, path)
        return outcome


async def _take_over(db: Database, earlier: InboundMailRow, now: datetime) -> bool:
    async with db.transaction() as session:
        return await InboundMailRepository(session).take_over(
            earlier.id, earlier.received_at, now, open_outcome=PROCESSING
        )


def _ignore_reason(
    settings: Settings, mail: ParsedMail | None, problem: str | None, envelope_from: str
) -> str | None:
    if mail is None:
        return f"unreadable: {problem}"[:200]
    reason = ignore_reason(mail, envelope_from, own_identity(settings))
    if reason is not None:
        return reason
    if mail.from_address is None:
        return "no sender address in From"
    return None


async def _finish(
    db: Database,
    row_id: UUID,
    outcome: MailOutcome,
    path: Path,
    session: Session | None = None,
) -> None:
    async def write(on: Session) -> None:
        await InboundMailRepository(on).finish(
            row_id,
            outcome=outcome.outcome,
            reason=(outcome.reason or "")[:200] or None,
            complaint_id=outcome.complaint_id,
            raw_path=str(path),
        )

    if session is not None:
        await write(session)
        return
    async with db.transaction() as own:
        await write(own)


async def _find_thread(db: Database, settings: Settings, mail: ParsedMail) -> ComplaintRow | None:
    """The complaint a reply belongs to: a Message-ID we know, else a reference we know."""
    keys = thread_keys(mail, settings.reference_prefix)
    async with db.sessions() as session:
        lookup = ComplaintLookup(session)
        known = await InboundMailRepository(session).complaint_for_message_ids(keys.replied_to_ids)
        if known is not None and (complaint := await lookup.by_id(known)) is not None:
            return complaint
        for reference in keys.references:
            if (complaint := await lookup.by_reference(reference)) is not None:
                return complaint
    return None


def _files_and_notes(settings: Settings, mail: ParsedMail) -> tuple[list[IncomingFile], str]:
    incoming = [
        IncomingFile(a.filename, a.data, a.content_type, field=f"attachment {a.filename}")
        for a in mail.attachments
    ]
    kept, refused = acceptable_files(settings, incoming)
    notes = "".join(f"\n[附件未接收 / attachment not kept: {n} — {p}]" for n, p in refused)
    return kept, notes


async def _file_or_thread(
    db: Database,
    settings: Settings,
    mail: ParsedMail,
    dedupe_key: str,
    key_account: bool,
    row_id: UUID,
    path: Path,
) -> MailOutcome:
    files, notes = _files_and_notes(settings, mail)
    complaint = await _find_thread(db, settings, mail)
    if complaint is not None:
        bind(complaint_id=str(complaint.id))
        text = (strip_quoted(mail.text) or mail.subject or "(empty reply)")[: 20_000 - len(notes)]
        await amend_from_customer(
            db,
            settings,
            complaint_id=complaint.id,
            kind=AmendmentKind.email,
            text=text + notes,
            files=files,
        )
        async with db.transaction() as session:
            decision = await _maybe_decision(session, complaint, mail)
            await _maybe_feedback_request(session, complaint, mail)
            outcome = MailOutcome(
                "amended", None, complaint.id, complaint.reference, decision=decision
            )
            await _finish(db, row_id, outcome, path, session)
        return outcome

    if mail.from_address is None:
        raise RuntimeError("mail.from_address is not set")
    text = (mail.text.strip() or mail.subject.strip() or "(no text)")[: 20_000 - len(notes)]
    try:
        email = normalise_email(mail.from_address)
    except ValueError:
        email = None
    command = ReceiveFromChannel(
        channel=Channel.key_account if key_account else Channel.email,
        title=(mail.subject.strip() or None) and mail.subject.strip()[:200],
        description=text + notes,
        customer_name=(mail.from_name.strip() or mail.from_address.split("@", 1)[0])[:200],
        customer_email=email,
        language="zh" if looks_chinese(f"{mail.subject}\n{mail.text}") else "en",
        files=tuple(files),
        feedback_requested=asks_for_feedback(text),
    )
    idempotency = Idempotency(
        principal="channel:email",
        key="mail:" + hashlib.sha256(dedupe_key.encode()).hexdigest(),
        request_hash=command.fingerprint(),
    )
    filed = await file_complaint(
        db, settings, command, received_by="email", idempotency=idempotency
    )
    bind(complaint_id=str(filed.complaint_id))
    outcome = MailOutcome("filed", None, filed.complaint_id, filed.reference)
    await _finish(db, row_id, outcome, path)
    return outcome


async def _maybe_feedback_request(
    session: Session, complaint: ComplaintRow, mail: ParsedMail
) -> None:
    """A reply from the complaint's own address that asks for the rectification feedback
    becomes complaint.feedback_requested (once; the amendment carries the text anyway)."""
    if not asks_for_feedback(strip_quoted(mail.text)):
        return
    known = (complaint.customer_email or "").strip().lower()
    if known and known != (mail.from_address or "").lower():
        log.info("feedback request from another address kept as an amendment only")
        return
    if await request_feedback(session, complaint, via=Channel.email):
        log.info("customer asked for the rectification feedback by mail")


async def _maybe_decision(
    session: Session, complaint: ComplaintRow, mail: ParsedMail
) -> str | None:
    """A reply that clearly accepts or rejects the pending plan, from the complaint's own
    address, becomes resolution.decision_received; anything else stays an amendment."""
    decision = customer_decision(mail.text)
    if decision is None:
        return None
    tracking = TrackingRepository(session)
    state = await tracking.state(complaint.id)
    if state.pending_plan is None or state.decision_sent is not None:
        return None
    known = (complaint.customer_email or "").strip().lower()
    if known and known != (mail.from_address or "").lower():
        log.info("decision-like reply from another address kept as an amendment only")
        return None
    await record_decision(
        session,
        complaint_id=complaint.id,
        reference=complaint.reference,
        plan_version=int(state.pending_plan["version"]),
        decision=decision.decision,
        comment=decision.comment,
        via=Channel.email,
    )
    await tracking.mark_decision_sent(complaint.id, decision.decision.value)
    return decision.decision.value
