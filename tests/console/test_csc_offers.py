"""The case panel offers exactly what rectification allows: for every case status and
every kind of person, the console's ``offers()`` against rectification's own state
table (``domain/status.py``) and grants (``domain/permissions.py``). The console
never imports a service; this test reads both to keep them in step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tousu_common.auth import Principal
from tousu_console.api.cases import offers
from tousu_console.domain import roles as role_table
from tousu_rectification.domain.permissions import allowed
from tousu_rectification.domain.status import ENDED, TABLE, CaseStatus, Command

OWNER = "quality"

#: (roles, department) of the people the console serves
PEOPLE = {
    "csc": (("csc",), "csc"),
    "agent": (("agent",), "csc"),
    "owner's quality staff": (("quality",), OWNER),
    "owner's department staff": (("department",), OWNER),
    "other department": (("department",), "sales"),
    "manager (csc)": (("manager",), "csc"),
    "owner's manager": (("manager",), OWNER),
    "admin": (("admin",), None),
}

#: the panel's offers → the command it sends
COMMANDS = {
    "first_response": Command.record_first_response,
    "wait": Command.start_customer_wait,
    "wait_end": Command.end_customer_wait,
    "plan": Command.propose_resolution,
    "decision": Command.accept_resolution,
    "actions_done": Command.complete_action,
    "callback": Command.record_callback,
    "close": Command.close,
    "reopen": Command.reopen,
}


@dataclass
class Person:
    """What ``offers()`` reads of the console's Viewer."""

    roles: tuple[str, ...]
    department: str | None

    def may(self, action: str) -> bool:
        return role_table.may(self.roles, action)


def a_case(status: CaseStatus, *, waiting: bool) -> dict[str, Any]:
    return {
        "status": status.value,
        "owner_department": OWNER,
        "first_response_at": None,
        "waiting_on_customer": waiting,
        "plan_version": 1,
        "plans": [
            {
                "plan_version": 1,
                "actions": [{"number": 1, "done_at": None}, {"number": 2, "done_at": "x"}],
            }
        ],
    }


def rectification_allows(command: Command, status: CaseStatus, principal: Principal) -> bool:
    transition = TABLE[command]
    assert transition.who is not None
    return status in transition.sources and allowed(
        principal, transition.who, owner_department=OWNER
    )


@pytest.mark.parametrize("waiting", [False, True])
@pytest.mark.parametrize("status", list(CaseStatus))
@pytest.mark.parametrize("who", list(PEOPLE))
def test_the_case_panel_offers_what_rectification_allows(
    who: str, status: CaseStatus, waiting: bool
) -> None:
    roles, department = PEOPLE[who]
    person = Person(roles, department)
    principal = Principal(subject=who, roles=frozenset(roles), department=department)
    offered = offers(person, a_case(status, waiting=waiting))  # type: ignore[arg-type]
    for name, command in COMMANDS.items():
        expected = rectification_allows(command, status, principal)
        if name == "wait":
            expected = expected and not waiting
        if name == "wait_end":
            expected = expected and waiting
        assert bool(offered[name]) == expected, (name, who, status, waiting)
    if offered["actions_done"]:
        assert [a["number"] for a in offered["actions_done"]] == [1]  # not the done one
    # instructions and quality reports: the CSC, on a case still open
    csc = "admin" in roles or "csc" in roles
    assert offered["instruct"] == offered["quality_report"] == (csc and status not in ENDED)
