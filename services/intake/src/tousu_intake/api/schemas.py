"""Response shapes shared by intake's routers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from tousu_intake.adapters.orm import AmendmentRow, AttachmentRow, ComplaintRow


class ComplaintSummary(BaseModel):
    """A complaint in a list (what an agent scans while the caller waits)."""

    id: UUID
    reference: str
    status: str
    channel: str
    title: str
    customer_name: str
    customer_id: UUID | None
    key_account: bool
    received_at: datetime
    received_by: str
    product_model: str | None = None
    serial_number: str | None = None

    @classmethod
    def of(cls, row: ComplaintRow) -> ComplaintSummary:
        return cls.model_validate(row, from_attributes=True)


class AttachmentView(BaseModel):
    id: UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    source: str
    amendment_id: UUID | None
    created_at: datetime
    url: str
    #: For a fax or scan: the fax header line (sender, sent_at, page counter), where
    #: the text came from (``ocr`` / ``text_layer``), pages, and transcription reasons.
    document_info: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: AttachmentRow) -> AttachmentView:
        return cls(
            **{name: getattr(row, name) for name in cls.model_fields if name != "url"},
            url=f"/v1/complaints/{row.complaint_id}/attachments/{row.id}",
        )


class AmendmentView(BaseModel):
    id: UUID
    kind: str
    text: str
    by: str
    from_customer: bool
    amended_at: datetime

    @classmethod
    def of(cls, row: AmendmentRow) -> AmendmentView:
        return cls.model_validate(row, from_attributes=True)
