"""Counts each service's SQL for ``bench_pipeline.py --count-sql``; never loaded otherwise.

The benchmark puts this directory on the services' ``PYTHONPATH`` and names a
directory in ``TOUSU_BENCH_SQL_COUNTS``. Python imports ``sitecustomize`` at start:
in a service process (``tousu_<name>.main``) this counts every transaction begun
and every statement run on each of its ``Database`` engines, by kind and table
(``statement_kind``, as the statement-count tests see them: ``INSERT outbox``,
``SELECT tracking_status``), and writes the running totals to
``<dir>/<name>.json`` twice a second, so the benchmark can take the difference
over a phase. Statements are counted, never recorded with their values.
"""

from __future__ import annotations

import os
import re
import sys

_DIR = os.environ.get("TOUSU_BENCH_SQL_COUNTS")
_SERVICE = re.search(r"tousu_(\w+)\.main", " ".join(sys.argv))


def _install(directory: str, service: str) -> None:
    import json
    import threading
    import time
    from collections import Counter

    from sqlalchemy import event

    import tousu_common.db as db
    from tousu_common.testing.statements import statement_kind

    counts: Counter[str] = Counter()
    original = db.Database.__init__

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        engine = self.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
            counts[statement_kind(statement) or " ".join(statement.split()[:2])] += 1

        @event.listens_for(engine, "begin")
        def _begin(_conn):  # type: ignore[no-untyped-def]
            counts["(transactions)"] += 1

    db.Database.__init__ = __init__  # type: ignore[method-assign]
    path = os.path.join(directory, f"{service}.json")

    def write() -> None:
        while True:
            time.sleep(0.5)
            with open(path + ".tmp", "w") as f:
                json.dump(dict(counts), f)
            os.replace(path + ".tmp", path)

    threading.Thread(target=write, name="bench-sql-counts", daemon=True).start()


if _DIR and _SERVICE:
    _install(_DIR, _SERVICE.group(1))
