"""A received file as the domain sees it: bytes and what the channel said about them.

Kept apart from :mod:`tousu_intake.attachments` (which writes files and their rows)
so that commands can carry files without the domain importing SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["IncomingFile"]


@dataclass(frozen=True)
class IncomingFile:
    """A file as a channel received it; ``declared_type`` is only a hint."""

    filename: str
    data: bytes
    declared_type: str | None = None
    #: The request field it came in, for error messages ("files[1]", "document").
    field: str = "files"
    #: What was read from it (a fax's header line, …), kept on its attachment row.
    document_info: dict[str, Any] | None = None
