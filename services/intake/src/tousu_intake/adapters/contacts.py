"""How to reach the customers of complaints, read in one statement: notify asks for
every message it sends (one request per acknowledgement at a steady rate), and the
complaint, its register customer's contacts and the mail that filed it were four
reads (issue 17)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_intake.adapters.channels_orm import InboundMailRow
from tousu_intake.adapters.orm import ComplaintRow, CustomerContactRow, CustomerRow
from tousu_intake.domain.customers import ContactKind


@dataclass(frozen=True)
class ComplaintContact:
    """One complaint's contact: the complaint's own details first, then the register's
    (a provisional customer's name is not one the customer gave)."""

    complaint_id: UUID
    reference: str
    customer_name: str | None
    email: str | None
    phone: str | None
    fax: str | None
    language: str
    tracked: bool
    customer_tier: str
    key_account: bool
    email_message_id: str | None


_complaints = ComplaintRow.__table__
_customers = CustomerRow.__table__
_contacts = CustomerContactRow.__table__
_mail = InboundMailRow.__table__

#: One row per register contact (at least one per complaint), in the register's order,
#: with the Message-ID of the mail that filed the complaint (if it was mailed).
_CONTACTS = (
    sa.select(
        _complaints.c.id,
        _complaints.c.reference,
        _complaints.c.customer_name,
        _complaints.c.customer_email,
        _complaints.c.customer_phone,
        _complaints.c.customer_fax,
        _complaints.c.language,
        _complaints.c.tracking_token_hash,
        _complaints.c.customer_tier,
        _complaints.c.key_account,
        _customers.c.name.label("register_name"),
        _customers.c.provisional,
        _contacts.c.kind,
        _contacts.c.display,
        _mail.c.message_id,
    )
    .select_from(
        _complaints.outerjoin(_customers, _customers.c.id == _complaints.c.customer_id)
        .outerjoin(_contacts, _contacts.c.customer_id == _customers.c.id)
        .outerjoin(
            _mail,
            sa.and_(
                _mail.c.complaint_id == _complaints.c.id,
                _mail.c.outcome == "filed",
                _mail.c.message_id.is_not(None),
            ),
        )
    )
    .where(_complaints.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(_complaints.c.id, _contacts.c.id)
)


async def contacts_of(
    session: AsyncSession, complaint_ids: Collection[UUID]
) -> dict[UUID, ComplaintContact]:
    """The contacts of those of ``complaint_ids`` that exist, by complaint id."""
    if not complaint_ids:
        return {}
    rows = (await session.execute(_CONTACTS, {"ids": list(complaint_ids)})).all()
    register: dict[UUID, dict[str, str]] = {}
    for row in rows:
        firsts = register.setdefault(row.id, {})
        if row.kind is not None:
            firsts.setdefault(row.kind, row.display)
    found = {}
    for row in rows:
        if row.id in found:
            continue
        firsts = register[row.id]
        named = row.register_name if row.register_name is not None and not row.provisional else None
        found[row.id] = ComplaintContact(
            complaint_id=row.id,
            reference=row.reference,
            customer_name=row.customer_name or named,
            email=row.customer_email or firsts.get(ContactKind.email.value),
            phone=row.customer_phone or firsts.get(ContactKind.phone.value),
            fax=row.customer_fax or firsts.get(ContactKind.fax.value),
            language=row.language,
            tracked=row.tracking_token_hash is not None,
            customer_tier=row.customer_tier,
            key_account=row.key_account,
            email_message_id=row.message_id,
        )
    return found
