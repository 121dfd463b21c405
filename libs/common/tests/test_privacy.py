"""Masking personal data in free text (no I/O): what customers, staff and
suppliers really write — phone numbers in every spelling, e-mail addresses,
resident ID numbers, full-width digits — is masked; part, serial and order
numbers, amounts, dates and service hotlines survive; every free-text field of
the catalog is declared and masked on its way into the outbox."""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from pydantic import BaseModel

from tousu_common.events import CATALOG, new_event
from tousu_common.events.catalog import (
    ComplaintReceived,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionProposed,
)
from tousu_common.privacy import FREE_TEXT_KEY, is_free_text, mask_payload, mask_text

HOTLINE_NOTE = (
    "客户王先生反映：2027年3月15日购买的YC6L-280发动机（出厂编号 SN 2027031500123456，"
    "订单号PO-2027-000123）行驶13800公里后缸盖漏油，已花费维修费¥12,800.00元。\n"
    "联系电话13812345678，备用138-1234-5678，微信同号+86 139 8765 4321；"
    "公司座机021-5555 1234转806，深圳办事处(0755)8888-1234。\n"
    "邮箱zhang.san@163.com，抄送ｌｉ．ｓｉ＠ｅｘａｍｐｌｅ．ｃｏｍ。身份证号11010519491231002X（报销用）。\n"
    "另一个手机：１３９１２３４５６７８。贵司客服热线400-800-1234一直占线。"
    "配件号 612600010001，故障码 P0087，喷油器 0445120224。"
)

#: What must not reach a topic, however it was written.
PERSONAL = [
    "13812345678",
    "1234-5678",
    "8765 4321",
    "5555 1234",
    "8888-1234",
    "zhang.san",
    "ｌｉ．ｓｉ",
    "19491231",
    "１３９１２３４５６７８",
]
#: What must survive: it identifies a product, an order or an amount, not a person.
SURVIVORS = [
    "YC6L-280",
    "SN 2027031500123456",
    "PO-2027-000123",
    "13800公里",
    "¥12,800.00元",
    "2027年3月15日",
    "400-800-1234",
    "612600010001",
    "P0087",
    "0445120224",
    "缸盖漏油",
]


def test_a_realistic_hotline_note_is_masked_and_keeps_what_is_not_personal() -> None:
    masked = mask_text(HOTLINE_NOTE)
    for personal in PERSONAL:
        assert personal not in masked, personal
    for survivor in SURVIVORS:
        assert survivor in masked, survivor
    for shown in (
        "联系电话138****5678，",
        "备用138****5678，",
        "+86 139****4321；",
        "021-****1234转806",
        "(0755)****1234。",
        "邮箱z***@163.com，",
        "抄送l***@example.com。",
        "身份证号110105********002X（",
        "另一个手机：139****5678。",
    ):
        assert shown in masked, shown


@pytest.mark.parametrize(
    ("written", "on_the_topic"),
    [
        ("13812345678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("+8613812345678", "+86138****5678"),
        ("0086-13812345678", "0086-138****5678"),
        ("(+86)13812345678", "(+86)138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("138—1234—5678", "138****5678"),
        ("13812345678/13912345678", "138****5678/139****5678"),
        ("021-5555 1234", "021-****1234"),
        ("02155551234", "021****1234"),
        ("010-12345678", "010-****5678"),
        ("0571-87654321", "0571-****4321"),
        ("(0755)8888-1234", "(0755)****1234"),
        ("０２１－５５５５１２３４", "021-****1234"),
        ("Tel: 021-55551234 ext. 806", "Tel: 021-****1234 ext. 806"),
        ("zhang.san@163.com", "z***@163.com"),
        ("ZHANG_San+tousu@mail.example.com.cn", "Z***@mail.example.com.cn"),
        ("13812345678@qq.com", "1***@qq.com"),
        ("ab@x.cn", "a*@x.cn"),
        ("a@x.cn", "*@x.cn"),
        ("11010519491231002X", "110105********002X"),
        ("11010519491231002x", "110105********002x"),
        ("110105 19491231 002X", "110105********002X"),
    ],
)
def test_each_spelling_is_masked(written: str, on_the_topic: str) -> None:
    assert mask_text(f"联系：{written}。") == f"联系：{on_the_topic}。"


@pytest.mark.parametrize(
    "kept",
    [
        "400-800-1234",  # service hotline
        "800-820-8820",
        "95588",  # bank short number
        "PO-2027-000123",  # would be a Guangzhou number if read as one
        "SN 2027031500123456",
        "SN2027031500123456",
        "110105194912310021",  # an ID's shape, wrong check digit: an order number
        "202703150012345678",  # 18 digits, no valid birth date / check digit
        "PN13812345678",  # a part number that contains a mobile's digits
        "2027138123456789",  # a mobile inside a longer number
        "8888 1234",  # a landline without area code: cannot be told from a number
        "¥13,812,345.67",
        "YC6L-280",
        "2027-03-15 08:30",
        "ISO 9001:2015",
        "GB/T 19580-2012",
        "user@localhost",  # no domain: not an address anyone can write to
        "044001900111",  # invoice code (发票代码)
        "773012345678901",  # waybill number
        "LFV2A21K8D4012345",  # VIN
        "HT-2027-0086-1",
        "13:00-17:00",
        "24V，13.8A",
    ],
)
def test_numbers_that_are_not_personal_survive(kept: str) -> None:
    text = f"备注：{kept}，谢谢"
    assert mask_text(text) == text


def test_masking_is_idempotent_and_never_lengthens_the_text() -> None:
    once = mask_text(HOTLINE_NOTE)
    assert mask_text(once) == once
    assert len(once) <= len(HOTLINE_NOTE)
    for text in ("+8613812345678", "075588881234", "a@b.cn", "0755-8881234"):
        assert len(mask_text(text)) <= len(text), text


def test_routing_keywords_still_match_masked_text() -> None:
    # Triage matches keywords on the text as subscribers receive it.
    from_customer = "发动机漏油严重，趴窝了，请尽快联系13812345678 / zhang.san@163.com"
    masked = mask_text(from_customer)
    for keyword in ("发动机", "漏油", "趴窝"):
        assert keyword in masked


def _string_fields(model: type[BaseModel]) -> typing.Iterator[tuple[type[BaseModel], str]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
        members = args or (annotation,)
        if str in members:
            yield model, name
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                yield from _string_fields(member)
        origin_args = typing.get_args(annotation)
        for inner in origin_args:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _string_fields(inner)


#: String fields that are codes, ids or names of things — never typed by a customer.
NOT_FREE_TEXT = {
    "reference",
    "duplicate_of_reference",
    "by",
    "decided_by",
    "rule_id",
    "ruleset_version",
    "owner_department",
    "from_department",
    "to_department",
    "department",
    "to_role",
    "status",
    "product_model",
    "serial_number",
    "serial_or_batch",
    "language",
    "supplier_name",
    "report_number",
    "notice_number",
    "currency",
    "template",
    "delivery_channel",
    "recipient_kind",
    "source_event_id",
    "period_kind",
    "period",
    "url",
}


def test_every_string_field_of_the_contract_is_declared_free_text_or_a_code() -> None:
    """A new payload field people can type into must be declared ``free_text``
    (and is then masked), or be added here as a code — never slip through."""
    undecided = []
    free = []
    for spec in CATALOG.values():
        for model, name in _string_fields(spec.model):
            if is_free_text(model, name):
                free.append(f"{model.__name__}.{name}")
            elif name not in NOT_FREE_TEXT:
                undecided.append(f"{spec.type}: {model.__name__}.{name}")
    assert undecided == []
    assert {
        "ComplaintReceived.description",
        "ComplaintReceived.title",
        "ComplaintAmended.text",
        "ComplaintWithdrawn.reason",
        "ResolutionAction.description",
        "SupplierResponded.root_cause",
        "NotificationFailed.error",
    } <= set(free)
    schema = ComplaintReceived.model_json_schema()
    assert FREE_TEXT_KEY in schema["properties"]["description"]
    assert FREE_TEXT_KEY not in schema["properties"]["serial_number"]


def test_a_payload_is_masked_as_a_copy_nested_actions_included() -> None:
    proposed = ResolutionProposed(
        complaint_id=uuid4(),
        reference="TS-2027-000042",
        at=datetime(2027, 3, 16, 9, tzinfo=UTC),
        case_id=uuid4(),
        by="csc.li",
        plan_version=1,
        actions=[
            ResolutionAction(
                kind=ResolutionActionKind.repair,
                description="服务站张工上门维修，电话13812345678",
                due_date=date(2027, 3, 20),
            ),
            ResolutionAction(
                kind=ResolutionActionKind.compensation,
                description="补偿维修费¥12,800.00，打款前请致电021-5555 1234确认",
                due_date=date(2027, 3, 31),
                amount=Decimal("12800.00"),
                currency="CNY",
            ),
        ],
        investigation="经核实缸盖垫片批次 B2027-0315 不良；客户邮箱zhang.san@163.com",
    )
    masked = mask_payload(proposed)
    assert masked is not proposed
    assert masked.actions[0].description == "服务站张工上门维修，电话138****5678"
    assert masked.actions[1].description == "补偿维修费¥12,800.00，打款前请致电021-****1234确认"
    assert masked.actions[1].amount == Decimal("12800.00")
    assert masked.investigation == "经核实缸盖垫片批次 B2027-0315 不良；客户邮箱z***@163.com"
    # The producer's own object keeps what was written (its database stores that).
    assert "13812345678" in proposed.actions[0].description
    # What goes on the wire is the masked copy, and it is still a valid payload.
    wire = json.loads(new_event(masked, source="test").value())
    assert ResolutionProposed.model_validate(wire) == masked
    # Nothing to mask: the very same object comes back.
    plain = ComplaintReceived(
        complaint_id=uuid4(),
        reference="TS-2027-000043",
        channel="hotline",
        received_at=datetime(2027, 3, 16, tzinfo=UTC),
        title="发动机漏油",
        description="YC6L-280 缸盖漏油",
    )
    assert mask_payload(plain) is plain
