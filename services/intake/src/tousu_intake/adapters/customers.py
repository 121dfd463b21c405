"""Loading, saving and finding customers of the register."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.errors import InvalidInput
from tousu_common.events.catalog import CustomerSegment, CustomerTier
from tousu_intake.adapters.orm import (
    ComplaintRow,
    CustomerContactRow,
    CustomerProductRow,
    CustomerRow,
)
from tousu_intake.domain.customers import (
    Contact,
    ContactKind,
    CustomerRecord,
    CustomerSummary,
    Product,
    normalise_email,
    normalise_phone,
    normalise_serial,
    preference,
)

#: Phone-like contacts: a number given as a phone may be on record as a fax and back
#: (small firms often share one line).
_NUMBER_KINDS = (ContactKind.phone.value, ContactKind.fax.value)

_customers = CustomerRow.__table__
_contacts = CustomerContactRow.__table__
_products = CustomerProductRow.__table__

# Core statements built once for what every filed complaint runs: matching its
# sender to a customer and, for an unknown sender, inserting a provisional one.
_SUMMARY = sa.select(
    _customers.c.id,
    _customers.c.name,
    _customers.c.tier,
    _customers.c.segment,
    _customers.c.provisional,
)
_SUMMARY_BY_ID = _SUMMARY.where(_customers.c.id == sa.bindparam("customer_id"))
#: Customers with the phone, the fax or the e-mail address (normalised); a missing
#: one is bound as NULL, which matches no contact.
_SUMMARY_BY_CONTACT = _SUMMARY.where(
    _customers.c.id.in_(
        sa.union(
            sa.select(_contacts.c.customer_id).where(
                # Fixed parameters, not an expanding IN: the SQL string stays the same.
                _contacts.c.kind.in_([sa.literal(kind) for kind in _NUMBER_KINDS]),
                _contacts.c.value.in_([sa.bindparam("phone"), sa.bindparam("fax")]),
            ),
            sa.select(_contacts.c.customer_id).where(
                _contacts.c.kind == ContactKind.email.value,
                _contacts.c.value == sa.bindparam("email"),
            ),
        )
    )
)
_INSERT_CUSTOMER = sa.insert(_customers)
_INSERT_CONTACT = sa.insert(_contacts)
_INSERT_PRODUCT = sa.insert(_products)


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, customer_id: UUID) -> CustomerRecord | None:
        found = await self._load([customer_id])
        return found[0] if found else None

    async def get_by_code(self, external_code: str) -> CustomerRecord | None:
        customer_id = await self.session.scalar(
            sa.select(CustomerRow.id).where(CustomerRow.external_code == external_code)
        )
        return None if customer_id is None else await self.get(customer_id)

    async def save(self, customer: CustomerRecord) -> bool:
        """Insert or replace ``customer`` (contacts and products replaced whole).
        Returns True when it was new."""
        now = datetime.now(UTC)
        values = {
            "external_code": customer.external_code,
            "name": customer.name,
            "segment": customer.segment.value if customer.segment else None,
            "tier": customer.tier.value,
            "language": customer.language,
            "provisional": customer.provisional,
            "updated_at": now,
        }
        updated = await self.session.execute(
            sa.update(CustomerRow).where(CustomerRow.id == customer.id).values(values)
        )
        created = updated.rowcount == 0
        if created:
            await self.session.execute(
                sa.insert(CustomerRow).values(id=customer.id, created_at=now, **values)
            )
        else:
            for table in (CustomerContactRow, CustomerProductRow):
                await self.session.execute(sa.delete(table).where(table.customer_id == customer.id))
        await self._add_contacts_and_products(customer)
        return created

    async def _add_contacts_and_products(self, customer: CustomerRecord) -> None:
        if customer.contacts:
            await self.session.execute(
                _INSERT_CONTACT,
                [
                    {
                        "customer_id": customer.id,
                        "kind": c.kind.value,
                        "value": c.value,
                        "display": c.display[:254],
                    }
                    for c in _unique(customer.contacts, key=lambda c: (c.kind, c.value))
                ],
            )
        if customer.products:
            await self.session.execute(
                _INSERT_PRODUCT,
                [
                    {"customer_id": customer.id, "model": p.model, "serial_number": p.serial_number}
                    for p in _unique(customer.products, key=lambda p: p.serial_number)
                ],
            )

    async def create_provisional(
        self,
        *,
        name: str | None,
        language: str,
        contacts: list[Contact],
        products: list[Product],
    ) -> CustomerRecord:
        """A customer for an unknown sender, to be confirmed or merged by staff later.

        Inserted straight away: its id is new, so :meth:`save`'s UPDATE-first (for a
        customer that may exist) would be one statement per complaint for nothing."""
        customer = CustomerRecord(
            id=uuid4(),
            name=(name or "").strip()[:200] or "未知客户 / unknown sender",
            language=language,
            provisional=True,
            contacts=contacts,
            products=products,
        )
        now = datetime.now(UTC)
        await self.session.execute(
            _INSERT_CUSTOMER,
            {
                "id": customer.id,
                "external_code": None,
                "name": customer.name,
                "segment": None,
                "tier": customer.tier.value,
                "language": customer.language,
                "provisional": True,
                "created_at": now,
                "updated_at": now,
            },
        )
        await self._add_contacts_and_products(customer)
        return customer

    async def summary(self, customer_id: UUID) -> CustomerSummary | None:
        """The customer without contacts and products (one query instead of three)."""
        row = (await self.session.execute(_SUMMARY_BY_ID, {"customer_id": customer_id})).first()
        return None if row is None else _summary(row)

    async def match(
        self, *, phone: str | None = None, email: str | None = None, fax: str | None = None
    ) -> CustomerSummary | None:
        """The best customer (:func:`preference`) with any of these already normalised
        contacts, in one query; None when none matches or none is given. What
        :meth:`find` answers first, without loading contacts and products."""
        if phone is None and email is None and fax is None:
            return None
        rows = await self.session.execute(
            _SUMMARY_BY_CONTACT, {"phone": phone, "email": email, "fax": fax}
        )
        return min((_summary(row) for row in rows), key=_tie_broken, default=None)

    async def move_complaints(self, source_id: UUID, into_id: UUID) -> int:
        result = await self.session.execute(
            sa.update(ComplaintRow)
            .where(ComplaintRow.customer_id == source_id)
            .values(customer_id=into_id)
        )
        return int(result.rowcount or 0)

    async def delete(self, customer_id: UUID) -> None:
        for table in (CustomerContactRow, CustomerProductRow):
            await self.session.execute(sa.delete(table).where(table.customer_id == customer_id))
        await self.session.execute(sa.delete(CustomerRow).where(CustomerRow.id == customer_id))

    async def list(
        self, *, name: str | None = None, provisional: bool | None = None, limit: int, offset: int
    ) -> tuple[list[CustomerRecord], int]:
        query = sa.select(CustomerRow.id)
        if name:
            query = query.where(CustomerRow.name.contains(name, autoescape=True))
        if provisional is not None:
            query = query.where(CustomerRow.provisional == provisional)
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        ids = (
            await self.session.scalars(
                query.order_by(CustomerRow.name, CustomerRow.id).limit(limit).offset(offset)
            )
        ).all()
        return await self._load(list(ids)), int(total or 0)

    async def find(
        self,
        *,
        phone: str | None = None,
        email: str | None = None,
        fax: str | None = None,
        serial: str | None = None,
        default_country_code: str = "86",
    ) -> list[CustomerRecord]:
        """Customers matching any of the given contacts, best first (registered before
        provisional, strategic before key before general)."""
        conditions = []
        for field, raw in (("phone", phone), ("fax", fax)):
            if raw is not None:
                try:
                    number = normalise_phone(raw, default_country_code)
                except ValueError as exc:
                    raise InvalidInput.about(field, str(exc)) from exc
                conditions.append(
                    sa.select(CustomerContactRow.customer_id).where(
                        CustomerContactRow.kind.in_(_NUMBER_KINDS),
                        CustomerContactRow.value == number,
                    )
                )
        if email is not None:
            try:
                address = normalise_email(email)
            except ValueError as exc:
                raise InvalidInput.about("email", str(exc)) from exc
            conditions.append(
                sa.select(CustomerContactRow.customer_id).where(
                    CustomerContactRow.kind == ContactKind.email.value,
                    CustomerContactRow.value == address,
                )
            )
        if serial is not None and serial.strip():
            conditions.append(
                sa.select(CustomerProductRow.customer_id).where(
                    CustomerProductRow.serial_number == normalise_serial(serial)
                )
            )
        if not conditions:
            return []
        ids = set((await self.session.scalars(sa.union(*conditions))).all())
        customers = await self._load(list(ids))
        return sorted(customers, key=preference)

    async def _load(self, ids: list[UUID]) -> list[CustomerRecord]:
        if not ids:
            return []
        rows = await self.session.scalars(sa.select(CustomerRow).where(CustomerRow.id.in_(ids)))
        customers = {
            row.id: CustomerRecord(
                id=row.id,
                name=row.name,
                tier=CustomerTier(row.tier),
                segment=CustomerSegment(row.segment) if row.segment else None,
                language=row.language,
                external_code=row.external_code,
                provisional=row.provisional,
            )
            for row in rows.all()
        }
        contacts = await self.session.scalars(
            sa.select(CustomerContactRow)
            .where(CustomerContactRow.customer_id.in_(customers))
            .order_by(CustomerContactRow.id)
        )
        for contact in contacts.all():
            customers[contact.customer_id].contacts.append(
                Contact(ContactKind(contact.kind), contact.value, contact.display)
            )
        products = await self.session.scalars(
            sa.select(CustomerProductRow)
            .where(CustomerProductRow.customer_id.in_(customers))
            .order_by(CustomerProductRow.id)
        )
        for product in products.all():
            customers[product.customer_id].products.append(
                Product(product.serial_number, product.model)
            )
        return [customers[i] for i in ids if i in customers]


def _summary(row: sa.Row[Any]) -> CustomerSummary:
    return CustomerSummary(
        id=row.id,
        name=row.name,
        tier=CustomerTier(row.tier),
        segment=CustomerSegment(row.segment) if row.segment else None,
        provisional=row.provisional,
    )


def _tie_broken(customer: CustomerSummary) -> tuple[bool, int, str, UUID]:
    """:func:`preference`, then the id: equally good matches come out the same every time."""
    return (*preference(customer), customer.id)


def _unique(items: Iterable, *, key) -> list:  # type: ignore[no-untyped-def]
    seen: set = set()
    kept = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return kept


async def find_customers(
    session: AsyncSession,
    *,
    phone: str | None = None,
    email: str | None = None,
    fax: str | None = None,
    serial: str | None = None,
    default_country_code: str = "86",
) -> list[CustomerRecord]:
    """Customers with that phone / e-mail / fax / serial number, best match first.
    A value that cannot be normalised is :class:`InvalidInput` naming its field."""
    return await CustomerRepository(session).find(
        phone=phone,
        email=email,
        fax=fax,
        serial=serial,
        default_country_code=default_country_code,
    )
