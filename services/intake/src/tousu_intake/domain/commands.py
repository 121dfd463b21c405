"""What a caller asks intake to do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tousu_common.events import Channel
from tousu_common.patterns import NON_SPACE
from tousu_intake.domain.customers import EMAIL_PATTERN, phone_pattern
from tousu_intake.domain.files import IncomingFile

#: Some text: not only white space (it is stripped).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=NON_SPACE)]
#: The strings :func:`normalise_phone` takes as a phone or fax number; every channel
#: (the JSON commands, the web form) checks with this one pattern.
PHONE_PATTERN = phone_pattern()
#: A phone or fax number as :func:`normalise_phone` takes it (the pattern says exactly that).
Phone = Annotated[str, StringConstraints(max_length=40, pattern=PHONE_PATTERN)]
#: An e-mail address as :func:`normalise_email` takes it.
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


class ReceiveComplaint(BaseModel):
    """A complaint an agent records while the caller is on the line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[Text, StringConstraints(max_length=200)]
    description: Annotated[Text, StringConstraints(max_length=20_000)]
    customer_name: Annotated[Text, StringConstraints(max_length=200)]
    customer_phone: Phone | None = None
    customer_email: (
        Annotated[
            str,
            StringConstraints(max_length=254, pattern=EMAIL_PATTERN),
        ]
        | None
    ) = None
    customer_fax: Phone | None = None
    customer_id: UUID | None = Field(
        default=None,
        description="The caller's customer record (from the lookup); if absent the "
        "customer is found by phone / e-mail, or a provisional one is created.",
    )
    product_model: Annotated[Text, StringConstraints(max_length=100)] | None = None
    serial_number: Annotated[Text, StringConstraints(max_length=100)] | None = None
    language: Literal["zh", "en"] = "zh"
    feedback_requested: bool = Field(
        default=False,
        description="The customer asked to be told the internal rectification measures "
        "and their result (not only the fix for them).",
    )
    channel: Literal[Channel.hotline] = Field(
        default=Channel.hotline, description="Only the hotline channel is open on this endpoint."
    )

    def for_channel(self, channel: Channel) -> ReceiveFromChannel:
        return ReceiveFromChannel(
            channel=channel,
            title=self.title,
            description=self.description,
            customer_name=self.customer_name,
            customer_phone=self.customer_phone,
            customer_email=self.customer_email,
            customer_fax=self.customer_fax,
            customer_id=self.customer_id,
            product_model=self.product_model,
            serial_number=self.serial_number,
            language=self.language,
            feedback_requested=self.feedback_requested,
        )


@dataclass(frozen=True)
class ReceiveFromChannel:
    """What any channel hands to :func:`tousu_intake.handlers.receive.receive`.

    Contacts are as the sender gave them (normalised inside); the customer is
    ``customer_id`` when given, else looked up by phone / e-mail / fax, else a
    provisional customer created in the same transaction.
    """

    channel: Channel
    description: str
    title: str | None = None  # None: the first line of the description
    customer_name: str | None = None
    customer_phone: str | None = None
    customer_email: str | None = None
    customer_fax: str | None = None
    customer_id: UUID | None = None
    product_model: str | None = None
    serial_number: str | None = None
    language: str = "zh"
    received_at: datetime | None = None  # None: now
    files: tuple[IncomingFile, ...] = ()
    needs_transcription: bool = False
    ocr_confidence: float | None = None
    #: The customer asked to be told the internal rectification plan and its result.
    feedback_requested: bool = False

    def fingerprint(self) -> str:
        """A hash of the request, for Idempotency-Key replays (files by their digest)."""
        digest = hashlib.sha256()
        for name, value in sorted(vars(self).items()):
            if name == "files":
                value = [(f.filename, hashlib.sha256(f.data).hexdigest()) for f in self.files]
            digest.update(f"{name}={value!r};".encode())
        return digest.hexdigest()
