"""What intake read from a fax or scan, kept on its attachment: the fax machine's
header line (sender's number, time, page counter), where the text came from
(OCR or the PDF's text layer), per-page resolution and skew, and why it went to
the transcription queue.

Revision ID: 1341
Revises: 1321_privacy_outbox
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "1341"
down_revision = "1321_privacy_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("document_info", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("document_info")
