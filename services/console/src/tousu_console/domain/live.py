"""What changed, as a live page receives it: a :class:`Change`.

The console's consumer turns each event on the topics into a change (the
complaint, what happened, which department owns it — never personal data);
``adapters/live_hub.py`` pushes it to the open pages of the people who may see
it (``domain/visibility.py``). A telephone call (``type="call"``) is the one
change addressed to one person (``target_subject``, the agent whose extension
rings): it carries the caller's number, so it goes to that person's pages only
and is never logged.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

#: A ringing call older than this is not shown again to a page that opens later.
RINGING_SHOWN_FOR_S = 120.0


@dataclass(frozen=True)
class Change:
    id: int
    type: str
    complaint_id: str | None
    department: str | None
    reference: str | None = None
    #: Only this person's pages get it (a call to their extension).
    target_subject: str | None = None
    extension: str | None = None
    call_id: str | None = None
    #: ringing | answered | hung_up
    call_state: str | None = None
    caller_number: str | None = None
    at: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        """What a page receives (``data:`` of the event): no empty fields, no target."""
        return {
            key: value
            for key, value in asdict(self).items()
            if value is not None and key != "target_subject"
        }
