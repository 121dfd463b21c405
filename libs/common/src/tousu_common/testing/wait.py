"""The one way tests wait: a condition with a deadline.

``eventually(probe)`` calls ``probe`` until it returns something truthy (or,
with ``until=``, until ``until(answer)`` holds) and returns that answer;
``await eventually_async(probe)`` does the same for a coroutine function,
without blocking the event loop. A probe that cannot reach a service
right now — it is starting, restarting after a kill, or closed the connection
mid-answer — has not failed: that counts as "not yet" (:data:`NOT_YET`), like a
falsy answer. Anything else a probe raises (an ``AssertionError`` about data it
saw, a bug) fails at once. When the deadline passes, the failure says what the
probe last answered or last ran into, so a red test says what it was waiting
for and what it saw instead.

Never wait with a fixed sleep: on a loaded two-core machine any fixed time is
too short some day, and on an idle one it is too long every day.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import IO, Any, TypeVar

import httpx
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError

T = TypeVar("T")
#: names the condition in the failure; a callable is asked at failure time (live stats)
What = str | Callable[[], str] | None

#: what a probe may run into while the thing it asks is not up (yet, or again)
NOT_YET: tuple[type[BaseException], ...] = (
    httpx.TransportError,  # ConnectError, ReadError, RemoteProtocolError, timeouts …
    ConnectionError,  # ConnectionRefusedError, ConnectionResetError, BrokenPipeError
    KafkaConnectionError,
    NodeNotReadyError,
    RequestTimedOutError,
)


class _Watch:
    """Deadline bookkeeping and the failure message, shared by both flavours."""

    def __init__(self, timeout: float, what: What) -> None:
        self.timeout = timeout
        self.what = what
        self.deadline = time.monotonic() + timeout
        self.last: Any = None
        self.last_error: BaseException | None = None
        self.tries = 0

    def answered(self, value: Any) -> None:
        self.tries += 1
        self.last, self.last_error = value, None

    def not_reachable(self, error: BaseException) -> None:
        self.tries += 1
        self.last_error = error

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def failure(self) -> AssertionError:
        seen = (
            f"last ran into {type(self.last_error).__name__}: {self.last_error}"
            if self.last_error is not None
            else f"last answer: {self.last!r}"
        )
        what = self.what() if callable(self.what) else self.what
        what = f"{what}: " if what else ""
        return AssertionError(
            f"{what}condition not met within {self.timeout}s ({self.tries} tries); {seen}"
        )


def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], Any] = bool,
    timeout: float = 30,
    interval: float = 0.05,
    what: What = None,
) -> T:
    """Call ``probe`` until ``until(answer)`` holds (by default: the answer is truthy)
    and return that answer; a :data:`NOT_YET` error counts as "not yet". ``what``
    names the condition in the failure, which also shows the last answer whole."""
    watch = _Watch(timeout, what)
    while True:
        try:
            value = probe()
        except NOT_YET as error:
            watch.not_reachable(error)
        else:
            if until(value):
                return value
            watch.answered(value)
        if watch.over():
            raise watch.failure() from watch.last_error
        time.sleep(interval)


async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], Any] = bool,
    timeout: float = 30,
    interval: float = 0.05,
    what: What = None,
) -> T:
    """:func:`eventually` for a coroutine function; waits without blocking the loop."""
    watch = _Watch(timeout, what)
    while True:
        try:
            value = await probe()
        except NOT_YET as error:
            watch.not_reachable(error)
        else:
            if until(value):
                return value
            watch.answered(value)
        if watch.over():
            raise watch.failure() from watch.last_error
        await asyncio.sleep(interval)


class ProcessOutput:
    """A child process's output, read line by line on a thread as it comes.

    A bare ``readline()`` blocks past any deadline when the child goes quiet; with
    the lines collected here a test waits on them with :func:`eventually` instead.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._lines.append(line)

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def finish(self, timeout: float = 30) -> str:
        """All of the output, once the stream has closed (the child has exited)."""
        self._thread.join(timeout)
        return self.text
