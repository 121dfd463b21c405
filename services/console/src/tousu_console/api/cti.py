"""``POST /v1/cti/calls``: the telephone system tells the console about calls.

A generic telephony (CTI) webhook, authenticated like intake's fax gateway: a
bearer token with the role ``gateway``. On ``ringing`` the pages of the agent
whose extension rings (set on ``/me``) show the caller's number with a link
to the hotline form for it — before the agent answers; ``answered`` and
``hung_up`` update or remove that banner. Nobody else's pages hear of it, and
the number is never logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from tousu_common.auth import Principal, require_roles
from tousu_console.domain.telephony import CALLER_PATTERN, EXTENSION_PATTERN
from tousu_console.handlers.calls import announce_call

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/cti", tags=["cti"])

Gateway = Annotated[Principal, require_roles("gateway")]


class CallEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:@-]+$",
        description="The phone system's id of the call (the same for all its events).",
    )
    event: Literal["ringing", "answered", "hung_up"]
    caller_number: str | None = Field(
        default=None,
        pattern=CALLER_PATTERN,
        description="The caller's number (required for `ringing`).",
    )
    agent_extension: str = Field(pattern=EXTENSION_PATTERN, description="The extension that rings.")
    at: AwareDatetime | None = Field(default=None, description="When it happened (with zone).")

    @model_validator(mode="after")
    def _ringing_has_a_number(self) -> CallEvent:
        if self.event == "ringing" and not self.caller_number:
            raise ValueError("caller_number is required when event is ringing")
        return self


class CallDelivered(BaseModel):
    call_id: str
    event: str
    #: How many people's pages it went to (0: nobody has set that extension).
    delivered_to: int
    received_at: datetime | None = None


@router.post(
    "/calls",
    status_code=202,
    response_model=CallDelivered,
    summary="A call rings, is answered or hangs up at an agent's extension",
    description="The phone system's webhook (role `gateway`). `ringing` shows the caller's "
    "number on the open pages of the agent whose extension (set on `/me`) rings, with a "
    "link to the hotline form; `answered` / `hung_up` update or remove it.",
)
async def call_event(request: Request, body: CallEvent, principal: Gateway) -> CallDelivered:
    delivered = await announce_call(
        request.app.state.console.sessions,
        request.app.state.hub,
        call_id=body.call_id,
        event=body.event,
        caller_number=body.caller_number,
        agent_extension=body.agent_extension,
    )
    log.info(
        "call event",
        extra={
            "call_id": body.call_id,
            "call_event": body.event,
            "extension": body.agent_extension,
            "delivered_to": delivered,
            "gateway": principal.subject,
        },
    )
    return CallDelivered(
        call_id=body.call_id, event=body.event, delivered_to=delivered, received_at=body.at
    )
