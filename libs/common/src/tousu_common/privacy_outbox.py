"""Masking the outbox rows staged before :mod:`tousu_common.privacy` existed.

Apart from :mod:`tousu_common.privacy` because it runs SQL: the masking rules
themselves are imported by every service's domain (through the event catalog),
and the domain imports no SQLAlchemy (issue 16, ``tests/test_architecture.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from tousu_common.privacy import has_free_text, mask_payload

__all__ = ["mask_outbox_rows"]


def mask_outbox_rows(connection: Connection, *, batch: int = 500) -> int:
    """Mask the free text of outbox rows written before masking existed.

    Run by each service's migration ``13xx_privacy_outbox``: pending rows would
    otherwise go out unmasked, and retained ones be re-published so after a
    broker loss. Rows are read in id order, a batch at a time; a row this code
    cannot read is left as it is. Returns the number of rows changed.
    """
    from tousu_common.events.catalog import CATALOG
    from tousu_common.messaging.tables import outbox

    types = sorted(name for name, spec in CATALOG.items() if has_free_text(spec.model))
    changed, last_id = 0, 0
    while True:
        rows = connection.execute(
            sa.select(outbox.c.id, outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.id > last_id, outbox.c.event_type.in_(types))
            .order_by(outbox.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return changed
        for row in rows:
            last_id = row.id
            try:
                payload = CATALOG[row.event_type].model.model_validate_json(row.payload)
            except ValueError:
                continue
            masked = mask_payload(payload)
            if masked is not payload:
                connection.execute(
                    sa.update(outbox)
                    .where(outbox.c.id == row.id)
                    .values(payload=masked.model_dump_json())
                )
                changed += 1
