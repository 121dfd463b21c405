"""Live pages: what changed, pushed to the open pages of the people who may see it.

The console's consumer turns each event on the topics into a :class:`Change`
(the complaint, what happened, which department owns it — never personal
data) and publishes it here; each open Server-Sent Events stream has a queue.
Recent changes are kept in memory so a page that reconnects with
``Last-Event-ID`` gets what it missed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    id: int
    type: str
    complaint_id: str | None
    department: str | None
    reference: str | None = None


class LiveHub:
    def __init__(self, replay: int = 2000, max_streams: int = 500) -> None:
        self._ids = itertools.count(1)
        self._recent: deque[Change] = deque(maxlen=max(1, replay))
        self._streams: set[asyncio.Queue[Change]] = set()
        self.max_streams = max_streams

    def publish(
        self,
        type: str,
        complaint_id: str | None,
        department: str | None,
        reference: str | None = None,
    ) -> Change:
        change = Change(next(self._ids), type, complaint_id, department, reference)
        self._recent.append(change)
        for queue in self._streams:
            if queue.full():
                queue.get_nowait()  # a stalled page loses its oldest change, not the hub
            queue.put_nowait(change)
        return change

    def since(self, last_id: int) -> Iterable[Change]:
        return [change for change in self._recent if change.id > last_id]

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
