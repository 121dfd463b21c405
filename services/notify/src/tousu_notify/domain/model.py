"""What an event calls for: which message, to whom, on which channel — decided
without sending anything (the delivery worker sends).

Events carry no personal data, so a customer or supplier delivery names its
recipient by kind (``customer``, ``supplier``) and the address is read from
intake or rectification when the message is actually sent. Staff recipients
come from notify's configuration (``department_contacts``) and from
subscriptions; other systems get webhooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from tousu_common.events import Event

# Department staff read Chinese unless a subscription says otherwise.
STAFF_LANGUAGE = "zh"
LANGUAGES = ("zh", "en")


class DeliveryChannel(StrEnum):
    email = "email"
    sms = "sms"
    webhook = "webhook"


class RecipientKind(StrEnum):
    customer = "customer"
    department = "department"
    manager = "manager"
    supplier = "supplier"
    subscriber = "subscriber"


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its (next) attempt
    sending = "sending"  # claimed by a worker; the attempt is under way
    sent = "sent"  # accepted by the SMTP server / SMS gateway / webhook receiver
    failed = "failed"  # given up after the last attempt (notification.failed)
    skipped = "skipped"  # nobody to send it to (no address on record / configured)
    cancelled = "cancelled"  # its subscription was disabled or deleted first


class Template(StrEnum):
    acknowledgement = "acknowledgement"  # 受理回执
    assigned_to_department = "assigned_to_department"
    resolution_proposed = "resolution_proposed"  # 解决方案, with accept / reject
    rectification_instruction = "rectification_instruction"  # 整改指令 (service)
    rectification_notice = "rectification_notice"  # 整改通知 (internal or to Supply)
    supplier_notice = "supplier_notice"  # 供应商整改通知, with the 8D response link
    sla_warning = "sla_warning"
    sla_breached = "sla_breached"
    escalated = "escalated"
    satisfaction_callback = "satisfaction_callback"  # 回访
    rectification_feedback = "rectification_feedback"
    closed = "closed"
    digest_published = "digest_published"  # 业务运作情况周报/月报
    event_notice = "event_notice"  # any other event a staff subscriber asked for
    webhook = "webhook"  # the CloudEvent itself, no template


#: Events the customer is told about, and with which template.
CUSTOMER_TEMPLATES: dict[str, Template] = {
    "complaint.received": Template.acknowledgement,
    "resolution.proposed": Template.resolution_proposed,
    "resolution.implemented": Template.satisfaction_callback,
    "rectification.feedback_requested": Template.rectification_feedback,
    "complaint.closed": Template.closed,
}

#: Events the supplier is told about (address and link from rectification).
SUPPLIER_TEMPLATES: dict[str, Template] = {
    "rectification.notice_dispatched": Template.supplier_notice,
}


@dataclass(frozen=True)
class StaffRule:
    template: Template
    to_department: bool = True
    to_manager: bool = False


#: Events a department (and/or its manager) is told about.
STAFF_TEMPLATES: dict[str, StaffRule] = {
    "complaint.triaged": StaffRule(Template.assigned_to_department),
    "complaint.reassigned": StaffRule(Template.assigned_to_department),
    "rectification.instructed": StaffRule(Template.rectification_instruction),
    "rectification.notice_issued": StaffRule(Template.rectification_notice),
    "sla.warning": StaffRule(Template.sla_warning, to_manager=True),
    "sla.breached": StaffRule(Template.sla_breached, to_manager=True),
    "complaint.escalated": StaffRule(Template.escalated, to_department=False, to_manager=True),
}

#: Who is staff: their messages about a complaint link to its page in the console.
STAFF_RECIPIENTS = frozenset(
    {RecipientKind.department, RecipientKind.manager, RecipientKind.subscriber}
)

#: Messages about one complaint that staff get (not the digest: it covers a period).
CONSOLE_LINKED_TEMPLATES = frozenset(
    {rule.template for rule in STAFF_TEMPLATES.values()} | {Template.event_notice}
)


def complaint_page_url(console_url: str, complaint_id: UUID | str) -> str:
    """The complaint's page in the staff console."""
    return f"{console_url.rstrip('/')}/complaints/{complaint_id}"


def console_link(
    console_url: str, *, template: str, recipient_kind: str, complaint_id: UUID | str
) -> str | None:
    """The console link a message carries: staff messages about one complaint only.

    Customers and suppliers never get it (they keep their tracking and 8D links),
    even if a staff template were ever sent to them."""
    if recipient_kind not in STAFF_RECIPIENTS or template not in CONSOLE_LINKED_TEMPLATES:
        return None
    return complaint_page_url(console_url, complaint_id)


#: Never sent to webhooks: a webhook delivery emits notification.sent, which
#: would call for another webhook delivery, and so on.
NOT_FOR_WEBHOOKS = frozenset({"notification.sent", "notification.failed"})

#: Free-text fields a customer or staff member typed; they may hold names and
#: phone numbers, so webhook bodies leave them out.
FREE_TEXT_FIELDS = frozenset({"title", "description", "text", "comment"})


def staff_template(event_type: str) -> Template:
    """The template a staff subscriber gets for ``event_type``."""
    if event_type in STAFF_TEMPLATES:
        return STAFF_TEMPLATES[event_type].template
    if event_type == "digest.published":
        return Template.digest_published
    return Template.event_notice


def addressed_department(event: Event) -> str | None:
    """The department an event is addressed to, if it names one."""
    data = event.data
    if event.type == "complaint.reassigned":
        return data.to_department  # type: ignore[attr-defined]
    if event.type == "rectification.notice_issued" and getattr(data, "kind", None) == (
        "supplier_notice"
    ):
        # A supplier notice goes to Supply, who dispatches it to the supplier.
        return "supply"
    for name in ("owner_department", "department"):
        value = getattr(data, name, None)
        if value:
            return str(value)
    return None


@dataclass(frozen=True)
class Facts:
    """What notify knows about a complaint from earlier events (for filters), and
    its reference for the deliveries of events that do not carry one."""

    owner_department: str | None = None
    urgency: str | None = None
    customer_tier: str | None = None
    language: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class EventTraits:
    """The values subscription filters look at, from the event or, failing that, the facts."""

    department: str | None
    urgency: str | None
    customer_tier: str | None

    @classmethod
    def of(cls, event: Event, facts: Facts) -> EventTraits:
        data = event.data
        urgency = getattr(data, "urgency", None)
        tier = getattr(data, "customer_tier", None)
        return cls(
            department=addressed_department(event) or facts.owner_department,
            urgency=str(urgency) if urgency else facts.urgency,
            customer_tier=str(tier) if tier else facts.customer_tier,
        )


@dataclass(frozen=True)
class SubscriptionRule:
    """The part of a subscription that decides whether an event is for it."""

    id: UUID
    channel: DeliveryChannel
    recipient_kind: RecipientKind
    language: str
    event_types: tuple[str, ...]
    departments: tuple[str, ...] | None = None
    customer_tiers: tuple[str, ...] | None = None
    urgencies: tuple[str, ...] | None = None
    active: bool = True

    def wants(self, event: Event, traits: EventTraits) -> bool:
        if not self.active:
            return False
        if self.channel is DeliveryChannel.webhook and event.type in NOT_FOR_WEBHOOKS:
            return False
        if "*" not in self.event_types and event.type not in self.event_types:
            return False
        return (
            _allowed(self.departments, traits.department)
            and _allowed(self.customer_tiers, traits.customer_tier)
            and _allowed(self.urgencies, traits.urgency)
        )


def _allowed(allowed: tuple[str, ...] | None, value: str | None) -> bool:
    """No filter lets everything through; a filter needs a known, listed value."""
    return allowed is None or (value is not None and value in allowed)


@dataclass(frozen=True)
class PlannedDelivery:
    template: Template
    channel: DeliveryChannel
    recipient_kind: RecipientKind
    recipient_key: str
    language: str
    subscription_id: UUID | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


def plan_deliveries(
    event: Event,
    *,
    facts: Facts,
    subscriptions: Iterable[SubscriptionRule],
    department_contacts: Mapping[str, Any],
    staff_language: str = STAFF_LANGUAGE,
) -> list[PlannedDelivery]:
    """Every message ``event`` calls for, each with a recipient key that stays the same
    when the event is seen again (the database refuses a second row for it)."""
    planned: list[PlannedDelivery] = []
    context = template_context(event)
    customer_language = getattr(event.data, "language", None) or facts.language or "zh"

    # A case closed because the customer withdrew needs no "closed" message.
    withdrawn = event.type == "complaint.closed" and getattr(event.data, "withdrawn", False)
    if event.type in CUSTOMER_TEMPLATES and not withdrawn:
        # E-mail if intake has an address, else SMS: decided when it is sent.
        planned.append(
            PlannedDelivery(
                CUSTOMER_TEMPLATES[event.type],
                DeliveryChannel.email,
                RecipientKind.customer,
                "customer",
                customer_language,
                context=context,
            )
        )
    if event.type in SUPPLIER_TEMPLATES:
        planned.append(
            PlannedDelivery(
                SUPPLIER_TEMPLATES[event.type],
                DeliveryChannel.email,
                RecipientKind.supplier,
                "supplier",
                "zh",
                context=context,
            )
        )
    rule = STAFF_TEMPLATES.get(event.type)
    department = addressed_department(event)
    if rule is not None and department:
        contact = department_contacts.get(department)
        targets = []
        if rule.to_department:
            targets.append((RecipientKind.department, "email", "phone"))
        if rule.to_manager:
            targets.append((RecipientKind.manager, "manager_email", "manager_phone"))
        for kind, email_field, phone_field in targets:
            key = f"{kind.value}:{department}"
            email = getattr(contact, email_field, None) if contact else None
            phone = getattr(contact, phone_field, None) if contact else None
            if phone:
                planned.append(
                    PlannedDelivery(
                        rule.template,
                        DeliveryChannel.sms,
                        kind,
                        f"{key}:sms",
                        staff_language,
                        context=context,
                    )
                )
            if email or not phone:
                # Without any configured address the row is still made, and
                # skipped with the reason, so the record shows nobody was told.
                planned.append(
                    PlannedDelivery(
                        rule.template,
                        DeliveryChannel.email,
                        kind,
                        key,
                        staff_language,
                        context=context,
                    )
                )

    traits = EventTraits.of(event, facts)
    for subscription in subscriptions:
        if not subscription.wants(event, traits):
            continue
        if subscription.channel is DeliveryChannel.webhook:
            planned.append(
                PlannedDelivery(
                    Template.webhook,
                    DeliveryChannel.webhook,
                    RecipientKind.subscriber,
                    f"subscription:{subscription.id}",
                    subscription.language,
                    subscription_id=subscription.id,
                    context={"cloudevent": cloudevent_body(event)},
                )
            )
        else:
            planned.append(
                PlannedDelivery(
                    staff_template(event.type),
                    subscription.channel,
                    subscription.recipient_kind,
                    f"subscription:{subscription.id}",
                    subscription.language,
                    subscription_id=subscription.id,
                    context=context,
                )
            )
    return planned


def template_context(event: Event) -> dict[str, Any]:
    """The template variables an event provides (its payload, which holds no personal data)."""
    return {
        "event_type": event.type,
        "event_id": event.id,
        "event_time": event.time.isoformat(),
        **event.data.model_dump(mode="json"),
    }


def cloudevent_body(event: Event) -> dict[str, Any]:
    """The event as a CloudEvents 1.0 structured-mode JSON object, free text left out."""
    data = {
        name: value
        for name, value in event.data.model_dump(mode="json").items()
        if name not in FREE_TEXT_FIELDS
    }
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat(),
        "subject": str(event.complaint_id),
        "dataschema": event.spec.dataschema,
        "datacontenttype": "application/json",
        "data": data,
    }


def mask_address(address: str) -> str:
    """Enough of an address to recognise it in a delivery log, not enough to use it."""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if address.startswith(("http://", "https://")):
        scheme, _, rest = address.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
    digits = [c for c in address if c.isdigit()]
    return "*" * max(len(digits) - 4, 0) + "".join(digits[-4:])
