"""The watchdog of a local stack's process group: ``python -m tousu_common.reaper GRACE``.

:class:`tousu_common.devstack.ProcessGroup` starts it as the leader of a new
process group, with the read end of a pipe as its standard input; the
broker and the services then join that group. The pipe's write end is held
only by the process that started the stack. When that process ends, however
it ends (SIGKILL included, and whichever of its threads started the
children), the pipe reaches end-of-file and this watchdog sends SIGTERM to
the group, waits up to GRACE seconds for the others to exit, then sends
SIGKILL to whatever is left (itself included) and is gone.

Unlike ``PR_SET_PDEATHSIG`` this does not depend on the thread that spawned
a child, and it reaches processes the stack started after a restart. It
ignores SIGINT and SIGTERM so that neither a terminal's Ctrl-C nor a
supervisor's signal to the group ends it before its job is done.
Standard library only, Linux (``/proc``) for telling when the group is empty.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, other than this one."""
    members = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def reap(pgid: int, grace: float) -> int:
    with_others = group_members(pgid)
    if not with_others:
        return 0
    print(f"reaper: stack owner gone; SIGTERM to group {pgid}: {with_others}", file=sys.stderr)
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return 0
        time.sleep(0.05)
    print(f"reaper: SIGKILL to group {pgid}: {group_members(pgid)}", file=sys.stderr, flush=True)
    os.killpg(pgid, signal.SIGKILL)  # ends this process too
    return 1


def main(argv: list[str]) -> int:
    grace = float(argv[1]) if len(argv) > 1 else 5.0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Not the terminal's foreground group: writing to it must not stop us (tostop).
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    while True:  # blocks until the owner closes its end (exit, crash or SIGKILL)
        try:
            if not os.read(0, 4096):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    return reap(os.getpgrp(), grace)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
