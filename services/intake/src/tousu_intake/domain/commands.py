"""What a caller asks intake to do."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tousu_common.events import Channel

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ReceiveComplaint(BaseModel):
    """A complaint an agent records while the caller is on the line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[Text, StringConstraints(max_length=200)]
    description: Annotated[Text, StringConstraints(max_length=20_000)]
    customer_name: Annotated[Text, StringConstraints(max_length=200)]
    customer_phone: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{4,30}$")
        ]
        | None
    ) = None
    customer_email: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
            ),
        ]
        | None
    ) = None
    product_model: Annotated[Text, StringConstraints(max_length=100)] | None = None
    serial_number: Annotated[Text, StringConstraints(max_length=100)] | None = None
    language: Literal["zh", "en"] = "zh"
    channel: Literal[Channel.hotline] = Field(
        default=Channel.hotline, description="Only the hotline channel is open on this endpoint."
    )
