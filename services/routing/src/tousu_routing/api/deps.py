"""What every routing route needs: the database, the routing wiring, scoping, paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.errors import Forbidden, InvalidInput
from tousu_common.paging import WHOLE_NUMBER
from tousu_routing.bootstrap import Routing
from tousu_routing.domain.rules import DEPARTMENTS

#: Roles that see every department's complaints (the rest see their own department's).
CROSS_DEPARTMENT_ROLES = ("csc", "manager", "agent", "service")


# ``async def``, as every dependency here: FastAPI runs a plain ``def`` (or a class)
# on its thread pool, a thread hop per request (tests/test_routes_stay_on_the_event_loop.py).
async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_routing(request: Request) -> Routing:
    return request.app.state.routing


DbDep = Annotated[Database, Depends(get_db)]
RoutingDep = Annotated[Routing, Depends(get_routing)]


def sees_all_departments(principal: Principal) -> bool:
    return principal.has_any(*CROSS_DEPARTMENT_ROLES)


def check_department_access(principal: Principal, department: str) -> None:
    """A department's staff see only their department's complaints."""
    if sees_all_departments(principal):
        return
    if principal.department != department:
        raise Forbidden("this complaint belongs to another department")


def scoped_department(principal: Principal, requested: str | None) -> str | None:
    """The department a worklist shows: the token's, or (for CSC and managers) any."""
    if requested is not None and requested not in DEPARTMENTS:
        raise InvalidInput(
            "unknown department",
            fields=[{"field": "department", "problem": f"must be one of {', '.join(DEPARTMENTS)}"}],
        )
    if sees_all_departments(principal):
        return requested
    if principal.department is None:
        raise Forbidden("the token names no department")
    if requested is not None and requested != principal.department:
        raise Forbidden("you may only see your own department's worklist")
    return principal.department


def check_department_name(field: str, value: str) -> str:
    if value not in DEPARTMENTS:
        raise InvalidInput(
            "unknown department",
            fields=[{"field": field, "problem": f"must be one of {', '.join(DEPARTMENTS)}"}],
        )
    return value


#: The largest page the document promises (the default ``worklist_max_limit``; a
#: deployment may set that lower, never higher).
PAGE_LIMIT = 200


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(
    request: Request,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=PAGE_LIMIT,
            description=f"Page size: at most `worklist_max_limit` ({PAGE_LIMIT} by default)",
        ),
        WHOLE_NUMBER,
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000), WHOLE_NUMBER] = 0,
) -> Paging:
    maximum = request.app.state.settings.worklist_max_limit
    if limit > maximum:
        raise InvalidInput(
            "page too large",
            fields=[{"field": "limit", "problem": f"must be at most {maximum}"}],
        )
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
