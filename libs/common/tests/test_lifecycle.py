"""Stopping background work: deadlines, swallowed cancellations, crashes logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from tousu_common.lifecycle import bounded, stop_tasks, watch


async def test_a_task_that_swallows_its_cancellation_once_is_cancelled_again() -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as a racy wait_for may
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    started = time.monotonic()
    assert await stop_tasks([task], timeout=5) == []
    assert task.cancelled()
    assert time.monotonic() - started < 2


async def test_a_task_that_ignores_cancellation_is_named_at_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    task = asyncio.create_task(deaf(), name="deaf-worker")
    await asyncio.sleep(0)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="tousu.lifecycle"):
        stuck = await stop_tasks([task], timeout=0.6)
    assert stuck == ["deaf-worker"]
    assert time.monotonic() - started < 2
    record = next(r for r in caplog.records if "still running" in r.getMessage())
    assert record.still_running == ["deaf-worker"]
    assert "deaf" in record.waiting_in["deaf-worker"]
    release.set()
    await asyncio.wait_for(task, 2)


async def test_a_crashed_background_task_is_logged_once_not_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crashes() -> None:
        raise RuntimeError("relay blew up")

    with caplog.at_level(logging.ERROR, logger="tousu.lifecycle"):
        task = watch(asyncio.create_task(crashes(), name="outbox-relay"))
        with contextlib.suppress(RuntimeError):
            await task
        await asyncio.sleep(0)  # done-callbacks run on the next loop turn
        assert await stop_tasks([task], timeout=1) == []
    crashes_logged = [r for r in caplog.records if r.getMessage() == "background task crashed"]
    assert len(crashes_logged) == 1
    assert crashes_logged[0].task == "outbox-relay"
    assert "relay blew up" in crashes_logged[0].error


async def test_a_closing_step_that_hangs_is_abandoned_at_its_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="tousu.lifecycle"):
        assert not await bounded(asyncio.sleep(3600), 0.3, "closing the producer")
    assert time.monotonic() - started < 2
    assert any("closing the producer" in r.getMessage() for r in caplog.records)
    assert await bounded(asyncio.sleep(0), 1, "a quick step")


async def test_a_task_that_crashes_while_stopping_is_logged_and_a_cancelled_one_is_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails_on_the_way_out() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise OSError("producer flush failed") from None

    async def idles() -> None:
        await asyncio.sleep(3600)

    crashing = asyncio.create_task(fails_on_the_way_out(), name="digest-scheduler")
    quiet = asyncio.create_task(idles(), name="session-sweeper")
    await asyncio.sleep(0)
    with caplog.at_level(logging.DEBUG, logger="tousu.lifecycle"):
        assert await stop_tasks([crashing, quiet], timeout=2) == []
    assert quiet.cancelled()
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.getMessage() == "background task crashed"
    assert logged.task == "digest-scheduler"
    assert "producer flush failed" in logged.error
    assert not any("session-sweeper" in repr(r.__dict__) for r in caplog.records)
