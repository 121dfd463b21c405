"""Customer register commands: create, edit, import — each one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID, uuid4

from tousu_common.db import Database
from tousu_common.errors import Conflict, InvalidInput, NotFound
from tousu_intake.adapters.customers import CustomerRepository
from tousu_intake.config import Settings
from tousu_intake.domain.customer_import import ImportFileError, Problem, parse
from tousu_intake.domain.customers import CustomerRecord


async def save_customer(db: Database, customer: CustomerRecord, *, must_exist: bool) -> bool:
    """Create (``must_exist=False``) or replace a customer; the external code is unique."""
    async with db.transaction() as session:
        customers = CustomerRepository(session)
        existing = await customers.get(customer.id)
        if must_exist and existing is None:
            raise NotFound(f"customer {customer.id} does not exist")
        if customer.external_code:
            holder = await customers.get_by_code(customer.external_code)
            if holder is not None and holder.id != customer.id:
                raise Conflict(
                    "external_code: another customer has this code",
                    fields=[{"field": "external_code", "problem": "already used"}],
                )
        return await customers.save(customer)


@dataclass
class ImportReport:
    encoding: str
    imported: int = 0
    updated: int = 0
    rejected: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


async def import_customers(db: Database, settings: Settings, data: bytes) -> ImportReport:
    """Upsert every good row by its external code; rejected rows change nothing."""
    try:
        parsed = parse(
            data,
            default_country_code=settings.default_country_code,
            max_rows=settings.customer_import_max_rows,
        )
    except ImportFileError as exc:
        raise InvalidInput.about("file", str(exc)) from exc
    report = ImportReport(
        encoding=parsed.encoding,
        rejected=parsed.problems,
        ignored_columns=parsed.ignored_columns,
    )
    if not parsed.rows:
        return report
    async with db.transaction() as session:
        customers = CustomerRepository(session)
        for row in parsed.rows:
            existing = await customers.get_by_code(row.code)
            customer = CustomerRecord(
                id=existing.id if existing else uuid4(),
                name=row.name,
                tier=row.tier,
                segment=row.segment,
                language=row.language,
                external_code=row.code,
                provisional=False,
                contacts=row.contacts,
                products=row.products,
            )
            await customers.save(customer)
            if existing is None:
                report.imported += 1
            else:
                report.updated += 1
    return report


async def get_customer(db: Database, customer_id: UUID) -> CustomerRecord:
    async with db.sessions() as session:
        customer = await CustomerRepository(session).get(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


async def merge_customer(
    db: Database, source_id: UUID, into_id: UUID
) -> tuple[CustomerRecord, int]:
    """Fold a provisional customer into a registered one once staff know who it was:
    its complaints, contacts and products move over and it disappears. Complaints keep
    the tier and flags they were received with (that is what triage saw)."""
    if source_id == into_id:
        raise Conflict(
            "into: a customer cannot be merged into itself",
            fields=[{"field": "into", "problem": "same customer"}],
        )
    async with db.transaction() as session:
        customers = CustomerRepository(session)
        source = await customers.get(source_id)
        if source is None:
            raise NotFound(f"customer {source_id} does not exist")
        target = await customers.get(into_id)
        if target is None:
            raise Conflict(
                "into: no such customer", fields=[{"field": "into", "problem": "no such customer"}]
            )
        if not source.provisional:
            raise Conflict(
                "only a provisional customer can be merged into another",
                fields=[{"field": "customer_id", "problem": "not provisional"}],
            )
        moved = await customers.move_complaints(source_id, into_id)
        target.contacts = target.contacts + source.contacts
        target.products = target.products + source.products
        await customers.save(target)
        await customers.delete(source_id)
    return await get_customer(db, into_id), moved
