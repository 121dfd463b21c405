"""A telephone call event: show it on the pages of the agent whose extension rings."""

from __future__ import annotations

from tousu_console.adapters.live_hub import LiveHub
from tousu_console.adapters.repository import SessionStore


async def announce_call(
    sessions: SessionStore,
    hub: LiveHub,
    *,
    call_id: str,
    event: str,
    caller_number: str | None,
    agent_extension: str,
) -> int:
    """Push the call to the live pages of everyone at ``agent_extension`` (set on
    ``/me``); how many people that was (0: nobody has that extension)."""
    subjects = await sessions.subjects_at_extension(agent_extension)
    for subject in subjects:
        hub.publish(
            "call",
            None,
            None,
            target_subject=subject,
            extension=agent_extension,
            call_id=call_id,
            call_state=event,
            caller_number=caller_number,
        )
    return len(subjects)
