"""Who may do what: roles *and* departments, checked in one place.

A rule is a tuple of :class:`Grant`; a caller passes if they hold one grant's
role and, when the grant names a department, belong to that department.
:data:`OWNER` stands for "the case's owner department" and is filled in at
check time, so one rule serves every case. ``admin`` passes every check.

Issue 5B (rectifications) reuses this for its own rules, e.g.::

    authorize(principal, (Grant("department", rect.department), Grant("csc")),
              owner_department=case.owner_department, action="mark the instruction done")

Events applied from other services act as :data:`SYSTEM` (or :func:`customer`),
which only grants naming the ``system`` role admit; no token can carry that
role (``mint_token`` refuses unknown roles).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tousu_common.domain_errors import Forbidden
from tousu_common.principal import Principal

#: Placeholder department: the owner department of the case being changed.
OWNER = "<owner department>"
#: The role of events applied from other services (never in a token).
SYSTEM_ROLE = "system"

SYSTEM = Principal(subject="system", roles=frozenset({SYSTEM_ROLE}), department=None)


def customer() -> Principal:
    """The customer, acting through intake (tracking page, reply mail)."""
    return Principal(subject="customer", roles=frozenset({SYSTEM_ROLE}), department=None)


@dataclass(frozen=True)
class Grant:
    role: str
    department: str | None = None  # None: any department; OWNER: the case's owner

    def admits(self, principal: Principal, owner_department: str | None) -> bool:
        if self.role not in principal.roles:
            return False
        if self.department is None:
            return True
        wanted = owner_department if self.department == OWNER else self.department
        return wanted is not None and principal.department == wanted

    def describe(self, owner_department: str | None) -> str:
        if self.department is None:
            return self.role
        department = owner_department if self.department == OWNER else self.department
        return f"{self.role} of department {department}"


Rule = tuple[Grant, ...]

#: CSC staff, or staff of the case's owner department (department, quality,
#: supply or manager role with that department in their token).
OWNER_STAFF: Rule = (
    Grant("csc"),
    Grant("department", OWNER),
    Grant("quality", OWNER),
    Grant("supply", OWNER),
    Grant("manager", OWNER),
)
#: Whoever talks to the customer: call-centre agents and CSC staff.
AGENTS: Rule = (Grant("agent"), Grant("csc"))
CSC: Rule = (Grant("csc"),)
SYSTEM_ONLY: Rule = (Grant(SYSTEM_ROLE),)


def allowed(principal: Principal, rule: Iterable[Grant], *, owner_department: str | None) -> bool:
    if "admin" in principal.roles:
        return True
    return any(grant.admits(principal, owner_department) for grant in rule)


def authorize(
    principal: Principal,
    rule: Iterable[Grant],
    *,
    owner_department: str | None = None,
    action: str,
) -> None:
    """Raise :class:`Forbidden` (403) naming who may ``action`` unless ``principal`` may."""
    grants = tuple(rule)
    if allowed(principal, grants, owner_department=owner_department):
        return
    who = ", ".join(
        grant.describe(owner_department) for grant in grants if grant.role != SYSTEM_ROLE
    )
    raise Forbidden(
        f"only {who or 'the system'} may {action}; you have roles "
        f"{', '.join(sorted(principal.roles)) or 'none'}"
        + (f" in department {principal.department}" if principal.department else "")
    )
