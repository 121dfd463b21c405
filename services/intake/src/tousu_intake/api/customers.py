"""``/v1/customers``: the customer register — entry, edit, CSV import, caller lookup."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody, InvalidInput, PayloadTooLarge
from tousu_common.events.catalog import CustomerSegment, CustomerTier
from tousu_common.openapi import multipart_encoding
from tousu_common.paging import WHOLE_NUMBER, Page
from tousu_common.patterns import NON_SPACE
from tousu_intake.adapters.customers import CustomerRepository
from tousu_intake.adapters.repository import ComplaintQueries
from tousu_intake.api.schemas import ComplaintSummary
from tousu_intake.domain.commands import EMAIL_PATTERN, Email, Phone
from tousu_intake.domain.customers import (
    Contact,
    ContactKind,
    CustomerRecord,
    Product,
    normalise_contact,
    normalise_serial,
    phone_pattern,
)
from tousu_intake.handlers.customers import (
    get_customer,
    import_customers,
    merge_customer,
    save_customer,
)

router = APIRouter(prefix="/v1/customers", tags=["customers"])

Editor = Annotated[Principal, require_roles("agent", "csc")]
Importer = Annotated[Principal, require_roles("csc")]

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NON_SPACE)
]
Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NON_SPACE)
]
ContactText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial_number: Short
    model: Short | None = None


class CustomerFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    external_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None
    ) = Field(default=None, description="The ERP/CRM customer code (the import upserts by it).")
    segment: CustomerSegment | None = None
    tier: CustomerTier = CustomerTier.general
    language: Literal["zh", "en"] = "zh"
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20)
    faxes: list[Phone] = Field(default_factory=list, max_length=20)
    products: list[ProductIn] = Field(default_factory=list, max_length=500)
    provisional: StrictBool = Field(
        default=False, description="Still unconfirmed (created for an unknown sender)."
    )


class CustomerView(BaseModel):
    id: UUID
    name: str
    external_code: str | None
    segment: CustomerSegment | None
    tier: CustomerTier
    language: str
    provisional: bool
    phones: list[str]
    emails: list[str]
    faxes: list[str]
    products: list[ProductIn]

    @classmethod
    def of(cls, customer: CustomerRecord) -> CustomerView:
        def displays(kind: ContactKind) -> list[str]:
            return [c.display for c in customer.contacts if c.kind is kind]

        return cls(
            id=customer.id,
            name=customer.name,
            external_code=customer.external_code,
            segment=customer.segment,
            tier=customer.tier,
            language=customer.language,
            provisional=customer.provisional,
            phones=displays(ContactKind.phone),
            emails=displays(ContactKind.email),
            faxes=displays(ContactKind.fax),
            products=[
                ProductIn(serial_number=p.serial_number, model=p.model) for p in customer.products
            ],
        )


class CallerMatch(CustomerView):
    open_complaints: list[ComplaintSummary]


class ImportProblem(BaseModel):
    row: int = Field(description="Line number in the file (the header is line 1).")
    field: str
    problem: str


class ImportReportView(BaseModel):
    encoding: str = Field(description="utf-8, utf-8-sig (with BOM) or gb18030 (GBK).")
    imported: int = Field(description="New customers.")
    updated: int = Field(description="Existing customers (same code) replaced by their row.")
    rejected: list[ImportProblem] = Field(
        description="Rows not imported, one entry per problem; a rejected row changes nothing."
    )
    ignored_columns: list[str]


def _record(customer_id: UUID, fields: CustomerFields, country_code: str) -> CustomerRecord:
    contacts = []
    for attribute, kind in (
        ("phones", ContactKind.phone),
        ("emails", ContactKind.email),
        ("faxes", ContactKind.fax),
    ):
        for index, raw in enumerate(getattr(fields, attribute)):
            try:
                contacts.append(Contact(kind, normalise_contact(kind, raw, country_code), raw))
            except ValueError as exc:
                field = f"{attribute}[{index}]"
                raise InvalidInput(
                    f"{field}: {exc}", fields=[{"field": field, "problem": str(exc)}]
                ) from exc
    return CustomerRecord(
        id=customer_id,
        name=fields.name,
        tier=fields.tier,
        segment=fields.segment,
        language=fields.language,
        external_code=fields.external_code or None,
        provisional=fields.provisional,
        contacts=contacts,
        products=[Product(normalise_serial(p.serial_number), p.model) for p in fields.products],
    )


CODE_TAKEN = {409: {"model": ErrorBody, "description": "external_code belongs to another customer"}}


@router.post(
    "",
    status_code=201,
    response_model=CustomerView,
    summary="Register a customer",
    responses=CODE_TAKEN,
)
async def create_customer(
    request: Request, fields: CustomerFields, principal: Editor
) -> CustomerView:
    settings = request.app.state.settings
    customer = _record(uuid4(), fields, settings.default_country_code)
    await save_customer(request.app.state.db, customer, must_exist=False)
    return CustomerView.of(await get_customer(request.app.state.db, customer.id))


@router.get("", response_model=Page[CustomerView], summary="List customers")
async def list_customers(
    request: Request,
    principal: Staff,
    name: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
    provisional: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100), WHOLE_NUMBER] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000), WHOLE_NUMBER] = 0,
) -> Page[CustomerView]:
    async with request.app.state.db.sessions() as session:
        customers, total = await CustomerRepository(session).list(
            name=name, provisional=provisional, limit=limit, offset=offset
        )
    return Page[CustomerView](
        items=[CustomerView.of(c) for c in customers], total=total, limit=limit, offset=offset
    )


@router.get(
    "/lookup",
    response_model=list[CallerMatch],
    summary="Who is calling? Customers by phone / e-mail / fax / serial, with open complaints",
)
async def lookup(
    request: Request,
    principal: Staff,
    phone: Annotated[str | None, Query(max_length=40, pattern=phone_pattern())] = None,
    email: Annotated[str | None, Query(max_length=254, pattern=EMAIL_PATTERN)] = None,
    fax: Annotated[str | None, Query(max_length=40, pattern=phone_pattern())] = None,
    serial: Annotated[str | None, Query(max_length=100)] = None,
) -> list[CallerMatch]:
    if not any((phone, email, fax, serial)):
        return []  # nothing known about the caller: nobody matches
    settings = request.app.state.settings
    async with request.app.state.db.sessions() as session:
        customers = await CustomerRepository(session).find(
            phone=phone,
            email=email,
            fax=fax,
            serial=serial,
            default_country_code=settings.default_country_code,
        )
        open_complaints = await ComplaintQueries(session).open_for_customers(
            [c.id for c in customers]
        )
    return [
        CallerMatch(
            **CustomerView.of(c).model_dump(),
            open_complaints=[ComplaintSummary.of(row) for row in open_complaints.get(c.id, [])],
        )
        for c in customers
    ]


@router.post(
    "/import",
    response_model=ImportReportView,
    summary="Import customers from an ERP/CRM CSV export (UTF-8 or GBK)",
    description="Upserts by the customer code. Rows with problems are rejected and reported; "
    "they change nothing, and the good rows are still imported. A file whose header lacks "
    "the code or name column is refused (422).",
    openapi_extra=multipart_encoding(file=["text/csv"]),
)
async def import_csv(
    request: Request,
    principal: Importer,
    file: Annotated[UploadFile, File(description="The CSV file")],
) -> ImportReportView:
    settings = request.app.state.settings
    data = await file.read(settings.customer_import_max_bytes + 1)
    if len(data) > settings.customer_import_max_bytes:
        raise PayloadTooLarge(
            f"file: more than {settings.customer_import_max_bytes} bytes",
            fields=[{"field": "file", "problem": "too large"}],
        )
    if not data.strip():
        raise InvalidInput.about("file", "empty")
    report = await import_customers(request.app.state.db, settings, data)
    return ImportReportView(
        encoding=report.encoding,
        imported=report.imported,
        updated=report.updated,
        rejected=[
            ImportProblem(row=p.row, field=p.field, problem=p.problem) for p in report.rejected
        ],
        ignored_columns=report.ignored_columns,
    )


@router.get(
    "/{customer_id:uuid}",
    response_model=CustomerView,
    summary="One customer",
    responses=NOT_FOUND_RESPONSE,
)
async def read_customer(request: Request, customer_id: UUID, principal: Staff) -> CustomerView:
    return CustomerView.of(await get_customer(request.app.state.db, customer_id))


@router.put(
    "/{customer_id:uuid}",
    response_model=CustomerView,
    summary="Replace a customer's record (confirm a provisional one with provisional=false)",
    responses={**NOT_FOUND_RESPONSE, **CODE_TAKEN},
)
async def replace_customer(
    request: Request, customer_id: UUID, fields: CustomerFields, principal: Editor
) -> CustomerView:
    settings = request.app.state.settings
    customer = _record(customer_id, fields, settings.default_country_code)
    await save_customer(request.app.state.db, customer, must_exist=True)
    return CustomerView.of(await get_customer(request.app.state.db, customer_id))


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: UUID = Field(description="The registered customer the provisional one really is.")


class MergeResult(BaseModel):
    customer: CustomerView
    moved_complaints: int


@router.post(
    "/{customer_id}/merge",
    response_model=MergeResult,
    summary="Merge a provisional customer into the customer it turned out to be",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {
            "model": ErrorBody,
            "description": "Not a provisional customer, or `into` is no customer or this one",
        },
    },
)
async def merge(
    request: Request, customer_id: UUID, body: MergeRequest, principal: Editor
) -> MergeResult:
    customer, moved = await merge_customer(request.app.state.db, customer_id, body.into)
    return MergeResult(customer=CustomerView.of(customer), moved_complaints=moved)
