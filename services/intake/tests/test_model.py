"""Receiving a complaint, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tousu_common.events import Channel, ComplaintReceived
from tousu_intake.domain.commands import ReceiveComplaint
from tousu_intake.domain.model import Complaint, format_reference


def receive(**overrides: object) -> Complaint:
    values: dict[str, object] = {
        "reference": "TS-2026-000007",
        "channel": Channel.hotline,
        "title": "异响",
        "description": "发动机异响",
        "customer_name": "李女士",
        "customer_phone": "13800138000",
        "customer_email": "li@example.com",
        "product_model": "YC4S",
        "serial_number": "A1",
        "language": "zh",
        "received_at": datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        "received_by": "agent-1",
    }
    values.update(overrides)
    return Complaint.receive(**values)  # type: ignore[arg-type]


def test_reference_has_six_digits_and_widens_instead_of_wrapping() -> None:
    assert format_reference("TS", 2026, 123) == "TS-2026-000123"
    assert format_reference("TS", 2027, 1_000_000) == "TS-2027-1000000"


def test_receiving_raises_exactly_one_received_event_without_contact_details() -> None:
    complaint = receive()
    assert complaint.status == "received"
    [event] = complaint.events
    assert isinstance(event, ComplaintReceived)
    assert event.complaint_id == complaint.id and event.reference == "TS-2026-000007"
    dumped = event.model_dump_json()
    assert "李女士" not in dumped and "13800138000" not in dumped and "li@example.com" not in dumped


def test_command_strips_whitespace_and_refuses_blank_text() -> None:
    command = ReceiveComplaint(title="  漏油 ", description=" x ", customer_name=" 王 ")
    assert command.title == "漏油"
    with pytest.raises(ValidationError, match="title"):
        ReceiveComplaint(title="   ", description="x", customer_name="王")


def test_command_refuses_unknown_fields_and_other_channels() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ReceiveComplaint(title="a", description="b", customer_name="c", priority="high")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="channel"):
        ReceiveComplaint(title="a", description="b", customer_name="c", channel="fax")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "phone", ["call me", "12", "+86 138 0013 8000 ext 5 and more digits 12345"]
)
def test_command_refuses_implausible_phone_numbers(phone: str) -> None:
    with pytest.raises(ValidationError, match="customer_phone"):
        ReceiveComplaint(title="a", description="b", customer_name="c", customer_phone=phone)
