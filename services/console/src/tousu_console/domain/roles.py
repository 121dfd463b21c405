"""What each person is offered: the menu and the actions of their roles.

This only decides what a page *shows*. The services decide what is *allowed*:
a forged form post reaches the API with the person's own token and gets its
403, which the console shows as a message. Keep this table in step with the
services' ``require_roles`` (the console's tests post forbidden forms to check
both sides agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Action → the roles the services accept for it (admin may do everything).
ACTIONS: dict[str, frozenset[str]] = {
    # intake
    "complaint.create": frozenset({"agent"}),
    "complaint.amend": frozenset({"agent", "csc"}),
    "complaint.withdraw": frozenset({"agent", "csc"}),
    "customer.lookup": frozenset({"agent", "csc", "manager"}),
    # routing
    "triage.override": frozenset({"csc", "manager"}),
    "triage.reassign": frozenset({"csc", "manager"}),
    "duplicate.link": frozenset({"csc", "manager"}),
    "triage.queue": frozenset({"csc", "manager"}),
    "worklist.overdue": frozenset({"csc", "manager", "quality", "supply"}),
    # rectification: the case (CSC)
    "case.respond": frozenset({"csc"}),
    "case.plan": frozenset({"csc"}),
    "case.decide": frozenset({"agent", "csc"}),  # the customer's answer (AGENTS)
    "case.callback": frozenset({"agent", "csc"}),  # rectification's AGENTS rule
    "case.close": frozenset({"csc"}),
    "case.reopen": frozenset({"csc"}),
    "case.instruct": frozenset({"csc"}),
    "case.quality_report": frozenset({"csc"}),
    # rectification: departments, Quality, Supply, managers
    "rectification.done": frozenset({"department", "quality", "supply"}),
    "notice.issue": frozenset({"quality"}),
    "notice.dispatch": frozenset({"supply"}),
    "notice.supplier_response": frozenset({"supply"}),
    "rectification.verify": frozenset({"csc", "quality"}),
    "rectification.waive": frozenset({"manager"}),
    "supplier.manage": frozenset({"supply", "quality"}),  # /v1/suppliers: supply, quality
    # notify and operations
    "digest.read": frozenset({"manager", "csc"}),
    "ops.read": frozenset({"manager"}),
    "ops.change": frozenset(),
}


@dataclass(frozen=True)
class MenuItem:
    path: str
    zh: str
    en: str
    action: str | None = None  # shown only to those who may do it


MENU: tuple[MenuItem, ...] = (
    MenuItem("/hotline", "热线受理", "Hotline", "complaint.create"),
    MenuItem("/triage", "人工分派", "Triage queue", "triage.queue"),
    MenuItem("/worklist", "我的工作", "My work"),
    MenuItem("/rectifications", "整改", "Rectifications"),
    MenuItem("/suppliers", "供应商", "Suppliers", "supplier.manage"),
    MenuItem("/overdue", "超期与升级", "Overdue", "worklist.overdue"),
    MenuItem("/digests", "周报月报", "Digests", "digest.read"),
    MenuItem("/search", "查询", "Search"),
    MenuItem("/ops", "运行状态", "Operations", "ops.read"),
    MenuItem("/me", "个人设置", "My settings"),
)


def may(roles: Iterable[str], action: str) -> bool:
    held = set(roles)
    return "admin" in held or bool(held & ACTIONS[action])


def menu_for(roles: Iterable[str]) -> list[MenuItem]:
    held = list(roles)
    return [item for item in MENU if item.action is None or may(held, item.action)]
