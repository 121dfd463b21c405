"""Index cases on (category, status) for the CSC's worklist.

`GET /v1/worklist` for the CSC counts and pages the open product-quality cases
still without a quality report (`category = 'product_quality' AND status NOT IN
('closed', 'withdrawn')`); with only `ix_cases_status` that was a scan of every
case ever opened.

Revision ID: 1506_cases_category_status
Revises: 1323_privacy_outbox
Create Date: 2026-12-06
"""

from alembic import op

revision = "1506_cases_category_status"
down_revision = "1323_privacy_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_category_status", "cases", ["category", "status"])


def downgrade() -> None:
    op.drop_index("ix_cases_category_status", table_name="cases")
