"""``/v1/subscriptions``: who gets what — staff recipients by e-mail or SMS, and
signed webhooks for other systems — with each subscription's delivery log.

Admins manage every subscription. A manager whose token names a department
manages the subscriptions filtered to that department only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import (
    NOT_FOUND_RESPONSE,
    Conflict,
    ErrorBody,
    Forbidden,
    InvalidInput,
    NotFound,
    TousuError,
)
from tousu_common.events import CATALOG
from tousu_common.events.catalog import CustomerTier, Urgency
from tousu_common.paging import WHOLE_NUMBER
from tousu_common.patterns import WHITE_SPACE
from tousu_notify.adapters.clients import TargetRefused, check_webhook_target
from tousu_notify.adapters.orm import SubscriptionRow
from tousu_notify.adapters.repository import DeliveryRepository, SubscriptionRepository
from tousu_notify.api.notifications import NotificationView
from tousu_notify.domain.model import NOT_FOR_WEBHOOKS, DeliveryChannel, DeliveryStatus
from tousu_notify.domain.signing import new_secret
from tousu_notify.handlers import subscriptions

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])

Manager = Annotated[Principal, require_roles("manager")]

Department = Literal[
    "csc",
    "quality",
    "supply",
    "sales",
    "logistics",
    "technical",
    "production",
    "design",
    "after_sales",
]

# White space spelled out: the document's (ECMA) \s is not Python's (tousu_common.patterns).
EMAIL = re.compile(rf"^[^@{WHITE_SPACE}<>,;\"]{{1,64}}@[A-Za-z0-9.-]{{1,253}}\.[A-Za-z]{{2,63}}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,24}$")


class SubscriptionFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What it is for, for people.")
    recipient_kind: Literal["department", "manager", "subscriber"] = Field(
        default="subscriber",
        description="Who the recipient is (recorded on each delivery; never the address).",
    )
    address: str | None = Field(
        default=None,
        max_length=320,
        description="E-mail address (channel email) or phone number (channel sms).",
    )
    url: str | None = Field(default=None, max_length=2000, description="Webhook target URL.")
    language: Literal["zh", "en"] = "zh"
    event_types: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Event types (see docs/events); '*' for all.",
        examples=[["sla.breached", "complaint.escalated"]],
    )
    departments: list[Department] | None = Field(
        default=None, max_length=20, description="Only events about these departments."
    )
    customer_tiers: list[CustomerTier] | None = Field(default=None, max_length=3)
    urgencies: list[Urgency] | None = Field(default=None, max_length=3)


#: Event types a subscription may name; webhooks never get the notification events.
EVENT_TYPES = ["*", *sorted(CATALOG)]
WEBHOOK_EVENT_TYPES = [t for t in EVENT_TYPES if t not in NOT_FOR_WEBHOOKS]
#: http(s), a host, an optional port (1–65535), no credentials; the host must also
#: resolve to a public address unless ``webhook_allow_private_targets``.
URL = (
    r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    rf"(?:[/?#][^\x00-\x20\x7f{WHITE_SPACE}]*)?$"
)


class _Create(BaseModel):
    """What every new subscription names, whatever its channel."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What it is for, for people.")
    language: Literal["zh", "en"] = "zh"
    departments: list[Department] | None = Field(
        default=None, max_length=20, description="Only events about these departments."
    )
    customer_tiers: list[CustomerTier] | None = Field(default=None, max_length=3)
    urgencies: list[Urgency] | None = Field(default=None, max_length=3)


_Recipient = Field(
    default="subscriber",
    description="Who the recipient is (recorded on each delivery; never the address).",
)
_EventTypes = Field(
    min_length=1,
    max_length=100,
    description="Event types (see docs/events); '*' for all.",
    examples=[["sla.breached", "complaint.escalated"]],
)


class EmailSubscriptionCreate(_Create):
    channel: Literal["email"]
    recipient_kind: Literal["department", "manager", "subscriber"] = _Recipient
    address: str = Field(max_length=320, pattern=EMAIL.pattern, description="E-mail address.")
    event_types: list[Annotated[str, Field(json_schema_extra={"enum": EVENT_TYPES})]] = _EventTypes


class SmsSubscriptionCreate(_Create):
    channel: Literal["sms"]
    recipient_kind: Literal["department", "manager", "subscriber"] = _Recipient
    address: str = Field(max_length=320, pattern=PHONE.pattern, description="Phone number.")
    event_types: list[Annotated[str, Field(json_schema_extra={"enum": EVENT_TYPES})]] = _EventTypes


class WebhookSubscriptionCreate(_Create):
    channel: Literal["webhook"]
    # A webhook's recipient is a subscribing system; clients written before the
    # per-channel schemas send it, so it is still taken (and only this value).
    recipient_kind: Literal["subscriber"] = Field(
        default="subscriber", description="Always `subscriber` for a webhook."
    )
    url: str = Field(max_length=2000, pattern=URL, description="Webhook target URL.")
    event_types: list[Annotated[str, Field(json_schema_extra={"enum": WEBHOOK_EVENT_TYPES})]] = (
        _EventTypes
    )


#: One schema per channel, so the document says which fields each one takes.
SubscriptionCreate = Annotated[
    EmailSubscriptionCreate | SmsSubscriptionCreate | WebhookSubscriptionCreate,
    Field(discriminator="channel"),
]


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Leave a field out to keep it; name, recipient_kind, language and event_types
    # cannot be null (the rest can: null removes the filter).
    name: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    recipient_kind: Literal["department", "manager", "subscriber"] = None  # type: ignore[assignment]
    address: str | None = Field(
        default=None,
        max_length=320,
        pattern=f"{EMAIL.pattern}|{PHONE.pattern}",
        description="E-mail (channel email) or phone number (channel sms); 409 if the "
        "subscription's channel takes the other or none",
    )
    url: str | None = Field(
        default=None, max_length=2000, pattern=URL, description="Webhooks only (else 409)"
    )
    language: Literal["zh", "en"] = None  # type: ignore[assignment]
    event_types: list[Annotated[str, Field(json_schema_extra={"enum": EVENT_TYPES})]] = Field(
        default=None, min_length=1, max_length=100
    )  # type: ignore[assignment]
    departments: list[Department] | None = Field(default=None, max_length=20)
    customer_tiers: list[CustomerTier] | None = Field(default=None, max_length=3)
    urgencies: list[Urgency] | None = Field(default=None, max_length=3)


class SubscriptionView(BaseModel):
    id: UUID
    name: str
    channel: str
    recipient_kind: str
    address: str | None
    url: str | None
    language: str
    event_types: list[str]
    departments: list[str] | None
    customer_tiers: list[str] | None
    urgencies: list[str] | None
    active: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: SubscriptionRow) -> SubscriptionView:
        return cls.model_validate(row, from_attributes=True)


class SubscriptionCreated(SubscriptionView):
    secret: str | None = Field(
        description="Webhooks only: the HMAC-SHA256 signing secret. Shown this once; keep it."
    )


async def _validate(
    request: Request,
    channel: DeliveryChannel,
    body: SubscriptionFields,
    refusal: type[TousuError] = InvalidInput,
) -> None:
    """What the channel asks of the fields. A new subscription's schema already says it
    (one per channel), so ``refusal`` is 422 there; a change is checked against the
    channel the subscription has, state the document cannot show: 409."""
    problems: list[dict[str, str]] = []
    for index, event_type in enumerate(body.event_types):
        if event_type != "*" and event_type not in CATALOG:
            problems.append(
                {"field": f"event_types.{index}", "problem": f"unknown event type {event_type!r}"}
            )
        elif channel is DeliveryChannel.webhook and event_type in NOT_FOR_WEBHOOKS:
            problems.append(
                {
                    "field": f"event_types.{index}",
                    "problem": "notification events are not sent to webhooks",
                }
            )
    if channel is DeliveryChannel.webhook:
        if body.address is not None:
            problems.append({"field": "address", "problem": "webhooks take a url, not an address"})
        if not body.url:
            problems.append({"field": "url", "problem": "a webhook needs a target url"})
        else:
            settings = request.app.state.settings
            try:
                await check_webhook_target(
                    body.url, allow_private=settings.webhook_allow_private_targets
                )
            except TargetRefused as refused:
                problems.append({"field": "url", "problem": str(refused)})
    else:
        if body.url is not None:
            problems.append({"field": "url", "problem": "only webhooks take a url"})
        pattern = EMAIL if channel is DeliveryChannel.email else PHONE
        what = "an e-mail address" if channel is DeliveryChannel.email else "a phone number"
        if not body.address or not pattern.match(body.address):
            problems.append({"field": "address", "problem": f"must be {what}"})
    if problems:
        raise refusal("invalid subscription", fields=problems)


def _scope(principal: Principal) -> str | None:
    """The one department a manager may manage, or None for all (admin, or no department)."""
    if "admin" in principal.roles or not principal.department:
        return None
    return principal.department


def _check_departments(principal: Principal, departments: list[str] | None) -> list[str] | None:
    scope = _scope(principal)
    if scope is None:
        return departments
    if departments is None:
        return [scope]
    if departments != [scope]:
        raise Forbidden(f"a manager of {scope} manages subscriptions for {scope} only")
    return departments


async def _load(request: Request, session, subscription_id: UUID, principal: Principal):  # type: ignore[no-untyped-def]
    row = await SubscriptionRepository(session).get(subscription_id)
    scope = _scope(principal)
    if row is None or (scope is not None and row.departments != [scope]):
        raise NotFound(f"subscription {subscription_id} does not exist")
    return row


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe a recipient or a webhook to event types",
)
async def create_subscription(
    request: Request, body: SubscriptionCreate, principal: Manager
) -> SubscriptionCreated:
    channel = DeliveryChannel(body.channel)
    fields = SubscriptionFields.model_validate(body.model_dump(exclude={"channel"}))
    await _validate(request, channel, fields)
    departments = _check_departments(principal, body.departments)
    now = datetime.now(UTC)
    secret = new_secret() if channel is DeliveryChannel.webhook else None
    row = SubscriptionRow(
        id=uuid4(),
        name=body.name,
        channel=channel.value,
        recipient_kind=fields.recipient_kind,
        address=fields.address,
        url=fields.url,
        secret=secret,
        language=body.language,
        event_types=sorted(set(body.event_types)),
        departments=departments,
        customer_tiers=[t.value for t in body.customer_tiers] if body.customer_tiers else None,
        urgencies=[u.value for u in body.urgencies] if body.urgencies else None,
        active=True,
        consecutive_failures=0,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    async with request.app.state.db.transaction() as session:
        await SubscriptionRepository(session).add(row)
    return SubscriptionCreated(**SubscriptionView.of(row).model_dump(), secret=secret)


@router.get("", response_model=list[SubscriptionView], summary="Subscriptions, oldest first")
async def list_subscriptions(
    request: Request,
    principal: Manager,
    channel: Annotated[DeliveryChannel | None, Query()] = None,
) -> list[SubscriptionView]:
    async with request.app.state.db.sessions() as session:
        rows = await SubscriptionRepository(session).list(
            channel=channel.value if channel else None, department=_scope(principal)
        )
    return [SubscriptionView.of(row) for row in rows]


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionView,
    summary="One subscription (a webhook's secret is never shown again)",
    responses=NOT_FOUND_RESPONSE,
)
async def get_subscription(
    request: Request, subscription_id: UUID, principal: Manager
) -> SubscriptionView:
    async with request.app.state.db.sessions() as session:
        row = await _load(request, session, subscription_id, principal)
    return SubscriptionView.of(row)


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionView,
    summary="Change filters, address, url, language or name (not the channel)",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {
            "model": ErrorBody,
            "description": "The change does not fit the subscription's channel (an address "
            "on a webhook, a url on e-mail, a phone number on e-mail…)",
        },
    },
)
async def update_subscription(
    request: Request, subscription_id: UUID, body: SubscriptionPatch, principal: Manager
) -> SubscriptionView:
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "recipient_kind", "language", "event_types"):
        if name in changes and changes[name] is None:
            raise InvalidInput(
                "invalid subscription", fields=[{"field": name, "problem": "may not be null"}]
            )
    async with request.app.state.db.transaction() as session:
        row = await _load(request, session, subscription_id, principal)
        current = SubscriptionView.of(row).model_dump(include=set(SubscriptionFields.model_fields))
        merged = SubscriptionFields.model_validate({**current, **changes})
        channel = DeliveryChannel(row.channel)
        await _validate(request, channel, merged, refusal=Conflict)
        departments = _check_departments(principal, merged.departments)
        row.name = merged.name
        if channel is not DeliveryChannel.webhook:
            row.recipient_kind = merged.recipient_kind
        row.address = merged.address
        row.url = merged.url
        row.language = merged.language
        row.event_types = sorted(set(merged.event_types))
        row.departments = departments
        row.customer_tiers = (
            [t.value for t in merged.customer_tiers] if merged.customer_tiers else None
        )
        row.urgencies = [u.value for u in merged.urgencies] if merged.urgencies else None
        row.updated_at = datetime.now(UTC)
    return SubscriptionView.of(row)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Delete a subscription; its pending deliveries are cancelled, its log kept",
    responses=NOT_FOUND_RESPONSE,
)
async def delete_subscription(
    request: Request, subscription_id: UUID, principal: Manager
) -> Response:
    await subscriptions.delete_subscription(
        request.app.state.db, subscription_id, scope=_scope(principal)
    )
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/enable",
    response_model=SubscriptionView,
    summary="Re-enable a subscription (after automatic disabling); failure count reset",
    responses=NOT_FOUND_RESPONSE,
)
async def enable_subscription(
    request: Request, subscription_id: UUID, principal: Manager
) -> SubscriptionView:
    row = await subscriptions.enable_subscription(
        request.app.state.db, subscription_id, scope=_scope(principal)
    )
    return SubscriptionView.of(row)


@router.post(
    "/{subscription_id}/disable",
    response_model=SubscriptionView,
    summary="Disable a subscription by hand; its pending deliveries are cancelled",
    responses=NOT_FOUND_RESPONSE,
)
async def disable_subscription(
    request: Request, subscription_id: UUID, principal: Manager
) -> SubscriptionView:
    row = await subscriptions.disable_subscription(
        request.app.state.db, subscription_id, scope=_scope(principal), by=principal.subject
    )
    return SubscriptionView.of(row)


@router.get(
    "/{subscription_id}/deliveries",
    response_model=list[NotificationView],
    summary="The subscription's delivery log, newest first",
    responses=NOT_FOUND_RESPONSE,
)
async def subscription_deliveries(
    request: Request,
    subscription_id: UUID,
    principal: Manager,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500), WHOLE_NUMBER] = 100,
) -> list[NotificationView]:
    async with request.app.state.db.sessions() as session:
        await _load(request, session, subscription_id, principal)
        rows = await DeliveryRepository(session).for_subscription(
            subscription_id, limit=limit, status=status.value if status else None
        )
    return [NotificationView.of(row) for row in rows]
