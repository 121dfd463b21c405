"""``GET /live``: the changes this person may see, as Server-Sent Events.

Every open page holds one stream (``static/console.js``). Each change is an
event ``change`` with ``id:`` (so the browser's reconnect sends
``Last-Event-ID`` and gets what it missed from the hub's memory) and ``data:``
the change as JSON; a comment line every ``live_heartbeat_s`` keeps proxies
from closing an idle stream. A stream ends when the browser goes, when the
app shuts down (it must never hold up a shutdown), or when the session ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from tousu_common.lifecycle import guard_of
from tousu_console.adapters.live_hub import Change, LiveHub
from tousu_console.api.deps import CurrentViewer
from tousu_console.domain.visibility import may_see

router = APIRouter(include_in_schema=False)

#: How often a stream looks whether the browser left or the app is stopping.
POLL_S = 0.5
#: How often a stream checks that its session still exists (sign-out ends it).
SESSION_CHECK_S = 60.0
#: What the browser waits before reconnecting (milliseconds).
RETRY_MS = 3000


#: "Reload everything you show": for a page that missed changes the hub no longer has.
RESYNC = 'event: change\ndata: {"type":"resync"}\n\n'


def frame(change: Change) -> str:
    data = json.dumps(change.public(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {change.id}\nevent: change\ndata: {data}\n\n"


def _last_id(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit() or len(value.strip()) > 18:
        return None
    return int(value.strip())


@router.get("/live")
async def live(
    request: Request,
    viewer: CurrentViewer,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> Response:
    console = request.app.state.console
    hub: LiveHub = request.app.state.hub
    if hub.streams >= hub.max_streams:
        return PlainTextResponse(
            "too many open live streams; try again later",
            status_code=503,
            headers={"Retry-After": "30"},
        )
    session = viewer.session

    def visible(change: Change) -> bool:
        return may_see(
            change, subject=session.subject, roles=session.roles, department=session.department
        )

    last = _last_id(last_event_id)
    heartbeat = console.settings.live_heartbeat_s
    guard = guard_of(request.app)

    def stopping() -> bool:
        return hub.stopping or bool(guard is not None and guard.armed)

    async def still_signed_in() -> bool:
        return await console.sessions.get(session.key) is not None

    async def stream() -> AsyncIterator[str]:
        # Opened here, not before the response: a stream that never starts holds nothing.
        try:
            queue = hub.open()
        except OverflowError:
            return
        # The queue is open first, so nothing published from here on is lost; what is
        # in both the backlog and the queue is sent once (ids only grow).
        backlog = list(hub.since(last)) if last is not None else hub.ringing(session.subject)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            if last is not None and hub.missed(last):
                yield RESYNC
            sent = last or 0
            for change in backlog:
                if visible(change):
                    yield frame(change)
                sent = max(sent, change.id)
            beat = checked = time.monotonic()
            while not stopping():
                if await request.is_disconnected():
                    return
                try:
                    change = await asyncio.wait_for(queue.get(), POLL_S)
                except TimeoutError:
                    now = time.monotonic()
                    if now - checked >= SESSION_CHECK_S:
                        checked = now
                        if not await still_signed_in():
                            return
                    if now - beat >= heartbeat:
                        beat = now
                        yield ": heartbeat\n\n"
                    continue
                if change.id > sent and visible(change):
                    sent = change.id
                    beat = time.monotonic()
                    yield frame(change)
        finally:
            hub.close(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )
