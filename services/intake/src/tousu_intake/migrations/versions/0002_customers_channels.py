"""Customer register, amendments, attachments; complaint columns for the channels.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("complaints", sa.Column("customer_id", sa.Uuid(), nullable=True))
    op.add_column("complaints", sa.Column("customer_fax", sa.String(40), nullable=True))
    op.add_column("complaints", sa.Column("phone_key", sa.String(20), nullable=True))
    op.add_column(
        "complaints",
        sa.Column("customer_tier", sa.String(20), server_default="general", nullable=False),
    )
    op.add_column("complaints", sa.Column("customer_segment", sa.String(20), nullable=True))
    op.add_column(
        "complaints",
        sa.Column("key_account", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "complaints",
        sa.Column("provisional_customer", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("complaints", sa.Column("ocr_confidence", sa.Float(), nullable=True))
    op.add_column("complaints", sa.Column("tracking_token_hash", sa.String(64), nullable=True))
    op.create_index("ix_complaints_status", "complaints", ["status"])
    op.create_index("ix_complaints_received_by", "complaints", ["received_by"])
    op.create_index("ix_complaints_customer_id", "complaints", ["customer_id"])
    op.create_index("ix_complaints_phone_key", "complaints", ["phone_key"])

    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_code", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(20), nullable=True),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("external_code", name="uq_customers_external_code"),
    )
    op.create_table(
        "customer_contacts",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("value", sa.String(254), nullable=False),
        sa.Column("display", sa.String(254), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_contacts_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_contacts"),
    )
    op.create_index("ix_customer_contacts_customer_id", "customer_contacts", ["customer_id"])
    op.create_index("ix_customer_contacts_kind_value", "customer_contacts", ["kind", "value"])
    op.create_table(
        "customer_products",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("serial_number", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_products_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_products"),
    )
    op.create_index("ix_customer_products_customer_id", "customer_products", ["customer_id"])
    op.create_index("ix_customer_products_serial_number", "customer_products", ["serial_number"])
    op.create_table(
        "amendments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("from_customer", sa.Boolean(), nullable=False),
        sa.Column("amended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name="fk_amendments_complaint_id_complaints",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_amendments"),
    )
    op.create_index("ix_amendments_complaint_id", "amendments", ["complaint_id"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("amendment_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_path", sa.String(300), nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name="fk_attachments_complaint_id_complaints",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["amendment_id"],
            ["amendments.id"],
            name="fk_attachments_amendment_id_amendments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    op.create_index("ix_attachments_complaint_id", "attachments", ["complaint_id"])


def downgrade() -> None:
    op.drop_index("ix_attachments_complaint_id", table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_amendments_complaint_id", table_name="amendments")
    op.drop_table("amendments")
    op.drop_index("ix_customer_products_serial_number", table_name="customer_products")
    op.drop_index("ix_customer_products_customer_id", table_name="customer_products")
    op.drop_table("customer_products")
    op.drop_index("ix_customer_contacts_kind_value", table_name="customer_contacts")
    op.drop_index("ix_customer_contacts_customer_id", table_name="customer_contacts")
    op.drop_table("customer_contacts")
    op.drop_table("customers")
    op.drop_index("ix_complaints_phone_key", table_name="complaints")
    op.drop_index("ix_complaints_customer_id", table_name="complaints")
    op.drop_index("ix_complaints_received_by", table_name="complaints")
    op.drop_index("ix_complaints_status", table_name="complaints")
    with op.batch_alter_table("complaints") as batch:
        for column in (
            "tracking_token_hash",
            "ocr_confidence",
            "provisional_customer",
            "key_account",
            "customer_segment",
            "customer_tier",
            "phone_key",
            "customer_fax",
            "customer_id",
        ):
            batch.drop_column(column)
