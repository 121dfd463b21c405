"""Who is calling: the authenticated user or service, as the domain sees it.

Kept apart from :mod:`tousu_common.auth` (tokens, FastAPI dependencies) so that
domain rules can take a :class:`Principal` without importing FastAPI (issue 16,
``tests/test_architecture.py``). :mod:`tousu_common.auth` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    department: str | None
    #: The OAuth client the token was issued to (``azp`` / ``client_id``), if it says.
    client_id: str | None = None

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles)) or "admin" in self.roles
