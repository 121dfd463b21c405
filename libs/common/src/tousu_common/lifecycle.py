"""Stopping a service: bounded in time, logged, and never left half-alive.

A service process must be gone shortly after SIGTERM or SIGINT whatever its
broker, database or mail peer is doing. Three parts:

- :func:`stop_tasks` cancels background tasks and waits for them with a
  deadline, cancelling again while it waits (a cancellation can be swallowed:
  Python 3.11's ``wait_for`` race, a library's broad ``except``), logs a task
  that crashed and names the ones still running at the deadline.
- :func:`bounded` runs one closing step (a Kafka client's ``stop()``, the
  engine's ``dispose()``) with a time limit and logs it if it fails or hangs.
- :class:`ExitGuard` arms on the first SIGTERM/SIGINT and, if the process is
  still alive ``deadline_s`` later, logs every thread's stack and ends it with
  ``os._exit``. Some waits cannot be cancelled from Python: a library's
  thread blocked in C (a DNS lookup, a driver's worker thread) keeps the
  interpreter alive after the event loop has ended. (SQLite itself no longer
  does: its statements run on the loop's thread and wait for another
  process's lock with asyncio, see ``tousu_common.sqlite_inline``.) The guard
  is only armed by a real signal in the main thread, so an app run in-process
  by tests is never ended by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Awaitable, Iterable
from types import FrameType
from typing import Any

log = logging.getLogger("tousu.lifecycle")

#: Exit status of a process the guard ended (like ``timeout(1)``).
EXIT_DEADLINE = 124


def task_name(task: asyncio.Task[Any]) -> str:
    return task.get_name()


_reported: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def log_crash(task: asyncio.Task[Any]) -> None:
    """Done-callback for background tasks: a task that died of an exception says so."""
    if task.cancelled() or task in _reported:
        return
    error = task.exception()
    if error is not None:
        _reported.add(task)
        log.error(
            "background task crashed",
            extra={"task": task_name(task), "error": repr(error)},
            exc_info=error,
        )


def watch(task: asyncio.Task[Any]) -> asyncio.Task[Any]:
    """Have ``task``'s crash logged the moment it happens (not only at shutdown)."""
    task.add_done_callback(log_crash)
    return task


def _where(task: asyncio.Task[Any]) -> str:
    frames = task.get_stack(limit=3)
    return " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames)) or "?"


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any]], timeout: float, *, what: str = "background tasks"
) -> list[str]:
    """Cancel ``tasks`` and wait up to ``timeout`` seconds for them to end.

    Returns the names of those still running at the deadline (logged with
    where each one is waiting). A task that ended with an exception other
    than its cancellation is logged, not swallowed.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(0.5, left))
        for task in pending:  # a cancellation may have been swallowed: ask again
            task.cancel()
    for task in tasks:
        if task.done():
            log_crash(task)  # once per task, whether or not it was watched
    stuck = sorted(task_name(task) for task in pending)
    if stuck:
        log.error(
            f"{what} still running at the shutdown deadline",
            extra={
                "timeout_s": timeout,
                "still_running": stuck,
                "waiting_in": {task_name(task): _where(task) for task in pending},
            },
        )
    return stuck


async def bounded(step: Awaitable[Any], timeout: float, what: str) -> bool:
    """Await one closing step with a time limit; False (and a log line) if it failed."""
    try:
        async with asyncio.timeout(timeout):
            await step
    except TimeoutError:
        log.error(f"{what}: did not finish within {timeout}s, going on without it")
        return False
    except Exception as exc:
        log.error(f"{what}: failed", extra={"error": repr(exc)})
        return False
    return True


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()


def _thread_stacks() -> dict[str, str]:
    frames = sys._current_frames()
    stacks = {}
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is None or thread is threading.current_thread():
            continue
        summary = traceback.extract_stack(frame, limit=4)
        where = " <- ".join(
            f"{s.name} ({os.path.basename(s.filename)}:{s.lineno})" for s in reversed(summary)
        )
        stacks[f"{thread.name}{'' if thread.daemon else ' (non-daemon)'}"] = where
    return stacks


class ExitGuard:
    """Ends the process ``deadline_s`` after the first SIGTERM/SIGINT if it is still alive.

    :meth:`install` wraps whatever handlers are in place (uvicorn's, which
    start the graceful shutdown): the signal still does what it did, and
    additionally arms a daemon thread that watches the clock.
    """

    def __init__(self, deadline_s: float, *, service: str = "") -> None:
        self.deadline_s = deadline_s
        self.service = service
        self.signalled_at: float | None = None
        self.signal_name: str | None = None
        self._installed: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def armed(self) -> bool:
        return self.signalled_at is not None

    def remaining(self) -> float | None:
        """Seconds left before the guard ends the process (None if not armed)."""
        if self.signalled_at is None:
            return None
        return self.signalled_at + self.deadline_s - time.monotonic()

    def tighten(self, seconds: float) -> None:
        """Bring the deadline forward to ``seconds`` from now (once the app's own
        shutdown is done, only the interpreter's teardown is left)."""
        if self.signalled_at is None:
            return
        left = self.remaining()
        if left is not None and left > seconds:
            self.deadline_s -= left - seconds

    def install(self) -> bool:
        """Wrap the SIGTERM and SIGINT handlers; only possible in the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return False
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if getattr(previous, "__self__", None) is self:
                continue
            self._installed[signum] = previous
            signal.signal(signum, self._on_signal)
        return True

    def uninstall(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._installed.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous)
        self._installed.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.arm(signal.Signals(signum).name)
        previous = self._installed.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def arm(self, reason: str) -> None:
        if self.signalled_at is not None:
            return
        self.signalled_at = time.monotonic()
        self.signal_name = reason
        log.warning(
            "stopping",
            extra={"signal": reason, "exit_deadline_s": self.deadline_s, "pid": os.getpid()},
        )
        threading.Thread(target=self._watch, name="exit-guard", daemon=True).start()

    def _watch(self) -> None:
        while (left := self.remaining()) is not None and left > 0:
            time.sleep(min(left, 0.2))
        self.exit_now(f"still alive {self.deadline_s:.1f}s after {self.signal_name}")

    def _pending_tasks(self) -> dict[str, str]:
        if self._loop is None:
            return {}
        try:  # from another thread: a best-effort snapshot
            return {
                task_name(task): _where(task)
                for task in asyncio.all_tasks(self._loop)
                if not task.done()
            }
        except Exception:
            return {}

    def exit_now(self, reason: str) -> None:
        """Log what is still running and end the process at once."""
        with contextlib.suppress(Exception):
            log.error(
                "ending the process: %s",
                reason,
                extra={
                    "threads": _thread_stacks(),
                    "tasks": self._pending_tasks(),
                    "exit_status": EXIT_DEADLINE,
                },
            )
        _flush_logs()
        os._exit(EXIT_DEADLINE)


def step_budget(guard: ExitGuard | None, default: float) -> float:
    """Time for one shutdown step: ``default``, less if the exit deadline is nearer."""
    left = guard.remaining() if guard is not None else None
    if left is None:
        return default
    return max(0.2, min(default, left - 1.0))


def guard_of(app: Any) -> ExitGuard | None:
    """The app's :class:`ExitGuard` (set by the common lifespan), if any."""
    return getattr(getattr(app, "state", None), "exit_guard", None)
