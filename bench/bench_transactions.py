"""Instructions per transaction shape on SQLite, counted by callgrind (issue 17).

The pipeline benchmark's CPU per complaint moves 20–40% between runs on a shared
host, so a change worth 3–5% of it cannot be seen there. Instructions can: the
same code and inputs give the same count whatever else the machine does. Each
shape runs N1 and N2 times in a process of its own under ``valgrind --tool=callgrind``,
and the difference over N2 − N1 is one iteration's count (start-up cancels out):

- ``bare``: sqlite3 alone, ``BEGIN IMMEDIATE``, the inbox check, ``COMMIT`` (the ceiling);
- ``transaction``: the same through ``Database.transaction()`` and a session;
- ``inbox``: ``InboxConsumer._apply_once`` with a handler that does nothing (an event
  applied alone: its inbox check and record, in a transaction of its own);
- ``relay``: one event staged in a transaction and published by one relay round, as
  a running relay does it (needs the local broker, started here).

``make bench-transactions`` (~5 min; valgrind from Debian's packages).
Compare code with ``PYTHONPATH=<worktree>/libs/common/src`` in front.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

SHAPES = ("bare", "transaction", "inbox", "relay")
#: The bare shape is so cheap that a process's own jitter (~10k instructions) would
#: be most of its difference: it runs this many times more iterations.
_SCALE = {"bare": 50}


async def _run_shape(shape: str, count: int, bootstrap: str) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from uuid import uuid4

    import sqlalchemy as sa

    from tousu_common.db import Database
    from tousu_common.events import Channel, ComplaintReceived, new_event
    from tousu_common.messaging.inbox import InboxConsumer
    from tousu_common.messaging.outbox import OutboxRelay, add_event
    from tousu_common.messaging.tables import inbox, messaging_metadata
    from tousu_common.testing.helpers import settings_for_tests

    directory = tempfile.mkdtemp()
    url = f"sqlite+aiosqlite:///{directory}/bench.db"
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(messaging_metadata.create_all)
    settings = settings_for_tests(bootstrap or "127.0.0.1:9", url)
    check = {"event_id": "x", "consumer": "c"}
    # The inbox check an event applied alone made before 1be8410, as a plain read.
    seen = (
        sa.select(sa.func.count())
        .select_from(inbox)
        .where(
            inbox.c.event_id == sa.bindparam("event_id"),
            inbox.c.consumer == sa.bindparam("consumer"),
        )
    )
    if shape == "bare":
        await db.dispose()
        raw = sqlite3.connect(f"{directory}/bench.db", isolation_level=None)
        sql = "SELECT count(*) FROM inbox WHERE event_id = ? AND consumer = ?"
        for _ in range(count):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(sql, ("x", "c")).fetchall()
            raw.execute("COMMIT")
        return
    if shape == "transaction":
        for _ in range(count):
            async with db.transaction() as session:
                await session.scalar(seen, check)
    elif shape == "inbox":

        async def nothing(_session: object, _event: object) -> None:
            return None

        consumer = InboxConsumer(db, settings, group_id="g", topics=["t"], handlers={})
        event = SimpleNamespace(id="", type="x")
        for n in range(count):
            event.id = str(n)
            await consumer._apply_once(event, nothing)  # type: ignore[arg-type]
    elif shape == "relay":
        relay = OutboxRelay(db, settings)
        publish = getattr(relay, "_publish_round", None)
        for n in range(count):
            complaint_id = uuid4()
            payload = ComplaintReceived(
                complaint_id=complaint_id,
                reference=f"TS-2027-{n:06d}",
                channel=Channel.hotline,
                received_at=datetime.now(UTC),
                title="漏油",
                description="发动机漏油",
            )
            async with db.transaction() as session:
                await add_event(session, new_event(payload, source="tousu/bench"))
            # The running relay's round where this code has one (marks with the next).
            await (publish(defer_mark=True) if publish else relay.publish_batch())
        await relay.close()
    await db.dispose()


def _instructions(shape: str, count: int, bootstrap: str) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inner",
        shape,
        str(count),
        bootstrap,
    ]
    # A fixed hash seed: otherwise set and dict layouts, and so the counts, differ
    # from one process to the next by more than the bare shape costs.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stderr
    for line in output.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    raise RuntimeError(f"no instruction count from callgrind:\n{output[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--n1", type=int, default=20)
    parser.add_argument("--n2", type=int, default=220)
    parser.add_argument("--inner", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        shape, count, bootstrap = args.inner
        import uvloop

        uvloop.run(_run_shape(shape, int(count), bootstrap))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed (Debian: apt-get install valgrind)")
    broker = None
    bootstrap = ""
    if "relay" in args.shapes:
        from tousu_common.devstack import Broker

        broker = Broker().start()
        bootstrap = broker.bootstrap
    try:
        counts = {}
        for shape in args.shapes:
            scale = _SCALE.get(shape, 1)
            low = _instructions(shape, args.n1 * scale, bootstrap)
            high = _instructions(shape, args.n2 * scale, bootstrap)
            counts[shape] = (high - low) // ((args.n2 - args.n1) * scale)
    finally:
        if broker is not None:
            broker.stop()
    bare = counts.get("bare")
    print(f"PYTHONPATH={os.environ.get('PYTHONPATH', '')!r}, iterations {args.n1} and {args.n2}\n")
    print("| shape | instructions per iteration | × bare |")
    print("|---|---|---|")
    for shape, count in counts.items():
        ratio = f"{count / bare:.1f}" if bare else "–"
        print(f"| {shape} | {count:,} | {ratio} |")


if __name__ == "__main__":
    main()
