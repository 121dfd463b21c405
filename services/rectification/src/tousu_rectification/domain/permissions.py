"""Who may do what: roles *and* departments, checked in one place.

A rule is a tuple of :class:`Grant`; a caller passes if they hold one grant's
role and, when the grant names a department, belong to that department.
:data:`OWNER` stands for "the case's owner department" and is filled in at
check time, so one rule serves every case. ``admin`` passes every check.

Issue 5B (rectifications) reuses this for its own rules, e.g.::

    authorize(principal, (Grant("department", rect.department), Grant("csc")),
              owner_department=case.owner_department, action="mark the instruction done")

Events applied from other services act as :data:`SYSTEM` (or :func:`customer`,
or :func:`relayed` for someone the other service names), which only grants
naming the ``system`` role admit; no token can carry that role (``mint_token``
refuses unknown roles).

Every actor is a :class:`Principal`: :func:`authorize` and :func:`allowed`
raise ``TypeError`` for anything else (a user id string included), so no
caller can skip the check by passing a name instead of a principal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tousu_common.domain_errors import Forbidden, InvalidInput
from tousu_common.principal import Principal

#: Placeholder department: the owner department of the case being changed.
OWNER = "<owner department>"
#: The role of events applied from other services (never in a token).
SYSTEM_ROLE = "system"

SYSTEM = Principal(subject="system", roles=frozenset({SYSTEM_ROLE}), department=None)


def customer() -> Principal:
    """The customer, acting through intake (tracking page, reply mail)."""
    return Principal(subject="customer", roles=frozenset({SYSTEM_ROLE}), department=None)


def relayed(subject: str) -> Principal:
    """Someone another service authorized and names in its event (routing's triage or
    reassignment, intake's withdrawal), acting here through that event: the system role,
    and their id for the history."""
    return Principal(subject=subject, roles=frozenset({SYSTEM_ROLE}), department=None)


def require_principal(actor: object) -> Principal:
    """``actor`` itself if it is a :class:`Principal`; a ``TypeError`` otherwise."""
    if not isinstance(actor, Principal):
        raise TypeError(
            f"an actor must be a Principal, not {type(actor).__name__} {actor!r}: "
            "use SYSTEM, customer() or relayed(subject) for actions from other services"
        )
    return actor


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
    require_principal(principal)
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
    require_principal(principal)
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


# -- worklists: who sees what ------------------------------------------------------

#: Who may look at every department's case worklist, not only their own.
ALL_DEPARTMENTS: Rule = (Grant("csc"), Grant("manager"), Grant("agent"), Grant("service"))
#: Quality turns quality reports into notices: it sees the reports still without any.
QUALITY: Rule = (Grant("quality"),)
#: Managers supervise every open rectification (and may waive it).
SUPERVISORS: Rule = (Grant("manager"),)


def case_worklist_department(
    principal: Principal, *, department: str | None, all_departments: bool
) -> str | None:
    """The department whose cases ``principal`` lists (None: every department).

    Their own by default; another one, or all, only for :data:`ALL_DEPARTMENTS`
    (403 otherwise); 422 when neither the token nor the query names one."""
    privileged = allowed(principal, ALL_DEPARTMENTS, owner_department=None)
    if all_departments:
        if not privileged:
            raise Forbidden("only csc, manager, agent or service may list every department")
        return None
    scope = department or principal.department
    if scope is None:
        raise InvalidInput(
            "your token names no department: give ?department= or ?all_departments=true",
            fields=[{"field": "department", "problem": "required"}],
        )
    if scope != principal.department and not privileged:
        raise Forbidden(f"you may list department {principal.department}'s cases only")
    return scope


def as_staff(principal: Principal) -> Principal:
    """``principal`` without the admin role: a worklist offers an admin the actions
    their other roles take, not every action there is (those show as supervision)."""
    return Principal(principal.subject, principal.roles - {"admin"}, principal.department)


def supervises(principal: Principal) -> bool:
    """Whether open rectifications that are not theirs to act on still show, to supervise."""
    return allowed(principal, SUPERVISORS, owner_department=None)


def sees_quality_reports(principal: Principal) -> bool:
    """Whether the worklist shows quality reports still without notices."""
    return allowed(principal, QUALITY, owner_department=None)


def sees_cases_awaiting_report(principal: Principal) -> bool:
    """Whether the worklist shows product-quality cases still without a quality report."""
    return allowed(principal, CSC, owner_department=None)
