"""Supplier register (配套厂): name, code, contacts, language, parts supplied.

Readable and writable by Supply, Quality and admins. Contacts are personal data:
they stay here (and in the supplier-contact API notify uses), never in events.
A supplier that notices refer to is deactivated, not deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, Conflict, ErrorBody, NotFound
from tousu_common.paging import WHOLE_NUMBER
from tousu_common.patterns import EMAIL_PATTERN
from tousu_rectification.adapters.rectification_orm import SupplierRow
from tousu_rectification.adapters.supplier_repository import SupplierRepository

router = APIRouter(prefix="/v1/suppliers", tags=["suppliers"])

Editor = Annotated[Principal, require_roles("supply", "quality", "admin")]
CONFLICT = {409: {"model": ErrorBody, "description": "Code already taken, or stale version"}}


class Contact(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+()\- ]{3,40}$")
    role: str | None = Field(default=None, max_length=100, examples=["质量经理"])


class SupplierIn(BaseModel):
    code: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    language: Literal["zh", "en"] = "zh"
    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    parts_supplied: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200
    )


class SupplierView(SupplierIn):
    supplier_id: UUID
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: SupplierRow) -> SupplierView:
        return cls(
            supplier_id=row.supplier_id,
            code=row.code,
            name=row.name,
            language=row.language,  # type: ignore[arg-type]
            contacts=[Contact(**c) for c in row.contacts],
            parts_supplied=list(row.parts_supplied),
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


class SupplierPage(BaseModel):
    items: list[SupplierView]
    total: int
    limit: int
    offset: int


def _taken(code: str) -> Conflict:
    return Conflict(
        f"supplier code {code} is taken",
        fields=[{"field": "code", "problem": "already used by another supplier"}],
    )


@router.post("", status_code=201, response_model=SupplierView, responses=CONFLICT)
async def create_supplier(request: Request, body: SupplierIn, principal: Editor) -> SupplierView:
    async with request.app.state.db.transaction() as session:
        suppliers = SupplierRepository(session)
        if await suppliers.code_taken(body.code):
            raise _taken(body.code)
        row = await suppliers.add(
            at=datetime.now(UTC),
            code=body.code,
            name=body.name,
            language=body.language,
            contacts=[c.model_dump(mode="json") for c in body.contacts],
            parts_supplied=body.parts_supplied,
        )
    return SupplierView.of(row)


@router.get("", response_model=SupplierPage)
async def list_suppliers(
    request: Request,
    principal: Editor,
    q: Annotated[str | None, Query(max_length=100, description="Name, code or part")] = None,
    include_inactive: bool = False,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000), WHOLE_NUMBER] = 0,
) -> SupplierPage:
    async with request.app.state.db.sessions() as session:
        rows = await SupplierRepository(session).listed(include_inactive=include_inactive)
    if q:
        needle = q.casefold()
        rows = [
            r
            for r in rows
            if needle in r.name.casefold()
            or needle in r.code.casefold()
            or any(needle in p.casefold() for p in r.parts_supplied)
        ]
    return SupplierPage(
        items=[SupplierView.of(r) for r in rows[offset : offset + limit]],
        total=len(rows),
        limit=limit,
        offset=offset,
    )


@router.get("/{supplier_id}", response_model=SupplierView, responses=NOT_FOUND_RESPONSE)
async def get_supplier(request: Request, supplier_id: UUID, principal: Editor) -> SupplierView:
    async with request.app.state.db.sessions() as session:
        row = await SupplierRepository(session).get(supplier_id)
    if row is None:
        raise NotFound(f"no supplier {supplier_id}")
    return SupplierView.of(row)


class SupplierUpdate(SupplierIn):
    version: int = Field(
        ge=1, le=2**31 - 1, description="The version you read (optimistic locking)."
    )
    active: bool = True


@router.put(
    "/{supplier_id}",
    response_model=SupplierView,
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
async def update_supplier(
    request: Request, supplier_id: UUID, body: SupplierUpdate, principal: Editor
) -> SupplierView:
    async with request.app.state.db.transaction() as session:
        suppliers = SupplierRepository(session)
        if await suppliers.get(supplier_id) is None:
            raise NotFound(f"no supplier {supplier_id}")
        if await suppliers.code_taken(body.code, but=supplier_id):
            raise _taken(body.code)
        updated = await suppliers.update(
            supplier_id,
            version=body.version,
            at=datetime.now(UTC),
            code=body.code,
            name=body.name,
            language=body.language,
            contacts=[c.model_dump(mode="json") for c in body.contacts],
            parts_supplied=body.parts_supplied,
            active=body.active,
        )
        if updated is None:
            raise Conflict(
                "the supplier was changed since you read it; reload it",
                fields=[{"field": "version", "problem": "stale"}],
            )
    return await get_supplier(request, supplier_id, principal)


@router.delete(
    "/{supplier_id}", status_code=204, response_class=Response, responses=NOT_FOUND_RESPONSE
)
async def delete_supplier(request: Request, supplier_id: UUID, principal: Editor) -> Response:
    """Delete a supplier no notice refers to; deactivate one that notices do."""
    async with request.app.state.db.transaction() as session:
        suppliers = SupplierRepository(session)
        row = await suppliers.get(supplier_id)
        if row is None:
            raise NotFound(f"no supplier {supplier_id}")
        await suppliers.remove(row, at=datetime.now(UTC))
    return Response(status_code=204)
