"""One inbound mail → a new complaint, an amendment of an existing one, or nothing.

Called by the SMTP listener before it answers ``250``: the raw message is on
disk and the outcome committed (with the complaint or amendment and its
events) before the sending server forgets the mail. Every message is
processed once: a second delivery of the same Message-ID (or, without one,
the same bytes) returns the first outcome.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from tousu_common.db import Database
from tousu_common.events import AmendmentKind, Channel
from tousu_common.logs import bind
from tousu_intake.adapters.channels_orm import InboundMailRow
from tousu_intake.adapters.tracking_repository import (
    ComplaintLookup,
    InboundMailRepository,
    TrackingRepository,
)
from tousu_intake.config import Settings
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
    IncomingFileData,
    NewComplaint,
    amend_from_customer,
    file_complaint,
    record_decision,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailOutcome:
    outcome: str  # filed | amended | ignored
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
    """Write the message under ``data_dir/mail/YYYY/MM/DD/`` (atomically) and return the path."""
    directory = Path(settings.data_dir) / "mail" / received_at.strftime("%Y/%m/%d")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{received_at.strftime('%H%M%S')}-{uuid4().hex}.eml"
    partial = path.with_suffix(".part")
    with open(partial, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    partial.rename(path)
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
        parse_problem = None
    except MailParseError as exc:
        mail, parse_problem = None, str(exc)
    dedupe_key = (mail.message_id if mail and mail.message_id else f"sha256:{sha256}")[:512]

    async with db.sessions() as session:
        earlier = await InboundMailRepository(session).by_dedupe_key(dedupe_key)
    if earlier is not None:
        return _outcome_of(earlier, duplicate=True)

    now = datetime.now(UTC)
    path = keep_raw(settings, raw, now)
    try:
        async with db.transaction() as session:
            outcome = await _decide_and_apply(
                session, settings, mail, parse_problem, envelope_from, key_account
            )
            await InboundMailRepository(session).add(
                InboundMailRow(
                    id=uuid4(),
                    dedupe_key=dedupe_key,
                    message_id=mail.message_id[:512] if mail and mail.message_id else None,
                    received_at=now,
                    mailbox=recipient[:320],
                    envelope_from=(envelope_from or "")[:320],
                    from_address=(mail.from_address or "")[:320] or None if mail else None,
                    subject=(mail.subject if mail else "")[:998],
                    outcome=outcome.outcome,
                    reason=(outcome.reason or "")[:200] or None,
                    complaint_id=outcome.complaint_id,
                    raw_path=str(path),
                    size_bytes=len(raw),
                    sha256=sha256,
                )
            )
    except IntegrityError:
        # The same message delivered twice at once: the other delivery won.
        path.unlink(missing_ok=True)
        async with db.sessions() as session:
            earlier = await InboundMailRepository(session).by_dedupe_key(dedupe_key)
        if earlier is None:
            raise
        return _outcome_of(earlier, duplicate=True)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info(
        "inbound mail processed",
        extra={"outcome": outcome.outcome, "reason": outcome.reason, "size": len(raw)},
    )
    return outcome


def _outcome_of(row: InboundMailRow, *, duplicate: bool) -> MailOutcome:
    return MailOutcome(row.outcome, row.reason, row.complaint_id, duplicate=duplicate)


async def _decide_and_apply(
    session,
    settings: Settings,
    mail: ParsedMail | None,
    parse_problem: str | None,
    envelope_from: str,
    key_account: bool,
) -> MailOutcome:
    if mail is None:
        return MailOutcome("ignored", f"unreadable: {parse_problem}"[:200])
    reason = ignore_reason(mail, envelope_from, own_identity(settings))
    if reason is not None:
        return MailOutcome("ignored", reason)
    if mail.from_address is None:
        return MailOutcome("ignored", "no sender address in From")

    files = [IncomingFileData(a.filename, a.content_type, a.data) for a in mail.attachments]
    lookup = ComplaintLookup(session)
    keys = thread_keys(mail, settings.reference_prefix)
    complaint = None
    complaint_id = await InboundMailRepository(session).complaint_for_message_ids(
        keys.replied_to_ids
    )
    if complaint_id is not None:
        complaint = await lookup.by_id(complaint_id)
    for reference in keys.references:
        if complaint is not None:
            break
        complaint = await lookup.by_reference(reference)

    if complaint is not None:
        bind(complaint_id=str(complaint.id))
        text = strip_quoted(mail.text) or mail.subject or "(empty reply)"
        await amend_from_customer(
            session,
            settings,
            complaint_id=complaint.id,
            reference=complaint.reference,
            kind=AmendmentKind.email,
            text=text,
            files=files,
        )
        decision = await _maybe_decision(session, complaint, mail)
        return MailOutcome(
            "amended",
            None,
            complaint.id,
            complaint.reference,
            decision=decision,
        )

    text = mail.text.strip() or "(no text)"
    title = mail.subject.strip() or text.splitlines()[0][:100] or "(no subject)"
    name = mail.from_name.strip() or mail.from_address.split("@", 1)[0]
    new = NewComplaint(
        channel=Channel.key_account if key_account else Channel.email,
        title=title[:200],
        description=text[:20_000],
        customer_name=name[:200],
        email=mail.from_address[:254],
        language="zh" if looks_chinese(f"{mail.subject}\n{mail.text}") else "en",
        key_account=key_account,
        received_by="email",
    )
    created = await file_complaint(session, settings, new, files)
    bind(complaint_id=str(created.id))
    return MailOutcome("filed", None, created.id, created.reference)


async def _maybe_decision(session, complaint, mail: ParsedMail) -> str | None:
    """A reply that clearly accepts or rejects the pending plan, from the complaint's own
    address, becomes resolution.decision_received; anything else stays an amendment."""
    decision = customer_decision(mail.text)
    if decision is None:
        return None
    state = await TrackingRepository(session).state(complaint.id)
    if state.pending_plan is None or state.decision_sent is not None:
        return None
    known = (complaint.customer_email or "").lower()
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
    await TrackingRepository(session).mark_decision_sent(complaint.id, decision.decision.value)
    return decision.decision.value
