"""Which live changes a person's open pages receive.

A push tells a page "this complaint changed, reload what shows it": it must
not tell anyone about complaints they may not read. The services decide what
a person may read; this mirrors their rule for the pushes:

- a change addressed to one person (a telephone call to their extension) goes
  to that person only, whatever their roles;
- the CSC, agents, Quality, Supply, managers and admins read every complaint,
  so they get every complaint change;
- a functional department's staff read their department's complaints: they get
  the changes whose department is theirs;
- nobody else gets anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from tousu_console.domain.live import Change

#: Roles that read every complaint (the services' worklists and complaint pages).
READ_ALL = frozenset({"agent", "csc", "quality", "supply", "manager", "admin"})


def may_see(change: Change, *, subject: str, roles: Iterable[str], department: str | None) -> bool:
    if change.target_subject is not None:
        return change.target_subject == subject
    if change.type == "call":  # a call without a person to ring reaches nobody
        return False
    held = set(roles)
    if held & READ_ALL:
        return True
    if "department" in held and department:
        return change.department == department
    return False
