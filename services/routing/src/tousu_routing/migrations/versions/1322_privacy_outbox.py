"""Mask personal data in the free text of outbox rows staged before masking.

From now on `add_event` stages free text masked (`tousu_common.privacy`);
rows already in the outbox — pending, or published and kept for
re-publication — are masked here, so none leaves unmasked after the upgrade.
The originals stay where they always were, in this service's own tables.

Revision ID: 1322_privacy_outbox
Revises: 1301_calendar
Create Date: 2026-12-05
"""

from alembic import op

from tousu_common.privacy_outbox import mask_outbox_rows

revision = "1322_privacy_outbox"
down_revision = "1301_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    mask_outbox_rows(op.get_bind())


def downgrade() -> None:
    pass  # masking cannot be undone; nothing in the schema changed
