"""Who sees which worklist (domain/permissions.py), without a database or HTTP."""

from __future__ import annotations

import pytest

from tousu_common.domain_errors import Forbidden, InvalidInput
from tousu_common.principal import Principal
from tousu_rectification.domain.permissions import (
    as_staff,
    case_worklist_department,
    sees_cases_awaiting_report,
    sees_quality_reports,
    supervises,
)


def staff(*roles: str, department: str | None = "sales") -> Principal:
    return Principal("u1", frozenset(roles), department)


def test_a_department_lists_its_own_cases_by_default() -> None:
    assert (
        case_worklist_department(staff("department"), department=None, all_departments=False)
        == "sales"
    )


def test_only_privileged_roles_list_other_or_all_departments() -> None:
    with pytest.raises(Forbidden):
        case_worklist_department(staff("department"), department="quality", all_departments=False)
    with pytest.raises(Forbidden):
        case_worklist_department(staff("department"), department=None, all_departments=True)
    assert case_worklist_department(staff("csc"), department="quality", all_departments=False) == (
        "quality"
    )
    assert case_worklist_department(staff("admin"), department=None, all_departments=True) is None


def test_a_token_without_department_must_name_one() -> None:
    with pytest.raises(InvalidInput) as refused:
        case_worklist_department(
            staff("agent", department=None), department=None, all_departments=False
        )
    assert refused.value.fields == [{"field": "department", "problem": "required"}]


def test_rectification_worklist_rules() -> None:
    assert supervises(staff("manager")) and supervises(staff("admin"))
    assert not supervises(staff("quality"))
    assert sees_quality_reports(staff("quality")) and not sees_quality_reports(staff("csc"))
    assert sees_cases_awaiting_report(staff("csc")) and not sees_cases_awaiting_report(
        staff("supply")
    )
    assert as_staff(staff("admin", "quality")).roles == frozenset({"quality"})
