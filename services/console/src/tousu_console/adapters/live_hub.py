"""The live hub: changes pushed to the open pages of the people who may see it.

The console's consumer turns each event on the topics into a :class:`Change`
(the complaint, what happened, which department owns it — never personal
data) and publishes it here; each open Server-Sent Events stream has a queue.
Recent changes are kept in memory so a page that reconnects with
``Last-Event-ID`` gets what it missed.

A telephone call (``type="call"``) is the one change addressed to one person
(``target_subject``, the agent whose extension rings): it carries the caller's
number, so it goes to that person's pages only (see ``domain/visibility.py``)
and is never logged.

Change ids grow across restarts: an id is the publishing time in microseconds
(or the previous id + 1 if that is not larger), so a page that reconnects to a
restarted console with the id it saw last gets every change of the new process.
(Below 2**53: exact as a JavaScript number.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable

from tousu_console.domain.live import RINGING_SHOWN_FOR_S, Change

__all__ = ["RINGING_SHOWN_FOR_S", "Change", "LiveHub"]


class LiveHub:
    def __init__(self, replay: int = 2000, max_streams: int = 500) -> None:
        self._last_id = 0
        #: A page whose last id is below this may have missed changes no longer kept
        #: (or published by an earlier process): it must reload everything it shows.
        self._floor = time.time_ns() // 1000
        self._recent: deque[Change] = deque(maxlen=max(1, replay))
        self._streams: set[asyncio.Queue[Change]] = set()
        self.max_streams = max_streams
        #: Set when the app shuts down: open streams end.
        self.stopping = False

    def publish(
        self,
        type: str,
        complaint_id: str | None,
        department: str | None,
        reference: str | None = None,
        **call: str | None,
    ) -> Change:
        self._last_id = max(self._last_id + 1, time.time_ns() // 1000)
        change = Change(self._last_id, type, complaint_id, department, reference, **call)
        if len(self._recent) == self._recent.maxlen:
            self._floor = self._recent[0].id
        self._recent.append(change)
        for queue in self._streams:
            if queue.full():
                queue.get_nowait()  # a stalled page loses its oldest change, not the hub
            queue.put_nowait(change)
        return change

    def since(self, last_id: int) -> Iterable[Change]:
        return [change for change in self._recent if change.id > last_id]

    def missed(self, last_id: int) -> bool:
        """Whether a page that saw ``last_id`` may have missed changes :meth:`since`
        cannot give (forgotten, or from before this process started)."""
        return last_id < self._floor

    def ringing(self, subject: str, now: float | None = None) -> list[Change]:
        """Calls to ``subject`` still ringing (for a page opened while the phone rings)."""
        now = time.time() if now is None else now
        latest: dict[str, Change] = {}
        for change in self._recent:
            if change.type == "call" and change.target_subject == subject and change.call_id:
                latest[change.call_id] = change
        return [
            change
            for change in latest.values()
            if change.call_state == "ringing" and now - change.at <= RINGING_SHOWN_FOR_S
        ]

    def open(self) -> asyncio.Queue[Change]:
        if len(self._streams) >= self.max_streams:
            raise OverflowError("too many open live streams")
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=1000)
        self._streams.add(queue)
        return queue

    def close(self, queue: asyncio.Queue[Change]) -> None:
        self._streams.discard(queue)

    @property
    def streams(self) -> int:
        return len(self._streams)
