"""The shipped rule set on complaints as customers write them, and the rule engine."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tousu_common.events.catalog import Channel, ComplaintCategory, CustomerTier, Urgency
from tousu_routing.domain.rules import (
    KEY_ACCOUNT_RULE_ID,
    Facts,
    RuleSet,
    RuleSetDocument,
    default_document,
    parse_document,
)

DEFAULT = RuleSet("1", default_document())
PQ, SQ = ComplaintCategory.product_quality, ComplaintCategory.service_quality
DELIVERY, COMMERCIAL = ComplaintCategory.delivery, ComplaintCategory.commercial
URGENT, IMPORTANT, GENERAL = Urgency.urgent, Urgency.important, Urgency.general


def decide(title: str, description: str = "", **facts: Any) -> Any:
    return DEFAULT.decide(
        Facts(title=title, description=description, channel=Channel.hotline, **facts)
    )


# (title, description, rule, category, urgency, department, quality report)
CASES = [
    (
        "发动机漏油，车辆停在高速上",
        "客户的卡车在高速上发动机漏油，已经停机，急需处理。",
        "oil-leak",
        PQ,
        URGENT,
        "quality",
        True,
    ),
    (
        "缸盖渗油",
        "新车行驶不到三千公里，发动机缸盖处有渗油现象。",
        "oil-leak",
        PQ,
        IMPORTANT,
        "quality",
        True,
    ),
    (
        "Engine leaking oil",
        "Our YC6K is leaking oil from the rear main seal.",
        "oil-leak",
        PQ,
        IMPORTANT,
        "quality",
        True,
    ),
    (
        "发动机异响",
        "冷车启动时有明显异响，怠速时更严重。",
        "engine-failure",
        PQ,
        IMPORTANT,
        "quality",
        True,
    ),
    (
        "车辆无法启动",
        "早上车辆无法启动，打不着火，已经趴窝在工地两天了。",
        "engine-failure",
        PQ,
        URGENT,
        "quality",
        True,
    ),
    (
        "Truck won't start",
        "The truck won't start in the cold since the last service.",
        "engine-failure",
        PQ,
        IMPORTANT,
        "quality",
        True,
    ),
    ("排气管冒黑烟", "加速时冒黑烟，动力不足。", "engine-failure", PQ, IMPORTANT, "quality", True),
    ("水温高", "爬坡时水温高，仪表报警。", "engine-failure", PQ, IMPORTANT, "quality", True),
    ("断轴", "行驶中断轴，车辆抛锚在国道上。", "engine-failure", PQ, URGENT, "quality", True),
    (
        "车辆起火",
        "行驶途中发动机舱起火，所幸无人员受伤。",
        "product-safety",
        PQ,
        URGENT,
        "quality",
        True,
    ),
    (
        "Brake failure on the highway",
        "The brakes failed at 60 km/h; nobody was hurt.",
        "product-safety",
        PQ,
        URGENT,
        "quality",
        True,
    ),
    (
        "配件质量差",
        "新换的零部件质量问题严重，用了一周就坏。",
        "parts-quality",
        PQ,
        IMPORTANT,
        "quality",
        True,
    ),
    (
        "发货延迟",
        "合同约定上周交货，至今物流信息没有更新。",
        "delivery-delay",
        DELIVERY,
        IMPORTANT,
        "logistics",
        False,
    ),
    (
        "Delivery delay",
        "Our order of 20 engines was promised for May 3 and is delayed again.",
        "delivery-delay",
        DELIVERY,
        IMPORTANT,
        "logistics",
        False,
    ),
    (
        "交付延迟导致停产",
        "发动机迟迟不到，我们的总装线已经停产两天。",
        "delivery-delay",
        DELIVERY,
        URGENT,
        "logistics",
        False,
    ),
    (
        "错发配件",
        "收到的配件型号不对，错发了YC4的零件。",
        "wrong-delivery",
        DELIVERY,
        IMPORTANT,
        "logistics",
        False,
    ),
    (
        "维修站服务态度差",
        "在服务站等了四个小时没人理，师傅态度很差，还推诿。",
        "service-quality",
        SQ,
        GENERAL,
        "csc",
        False,
    ),
    (
        "Rude technician",
        "The service technician was rude and I was kept waiting all day "
        "while they looked at my engine.",
        "service-quality",
        SQ,
        GENERAL,
        "csc",
        False,
    ),
    (
        "发票金额错误",
        "发票上的价格和合同价格不一致，要求重新开票并退款差价。",
        "commercial",
        COMMERCIAL,
        GENERAL,
        "sales",
        False,
    ),
    (
        "Refund not received",
        "We were promised a refund on invoice 4471.",
        "commercial",
        COMMERCIAL,
        GENERAL,
        "sales",
        False,
    ),
    (
        "三包期内拒绝保修",
        "发动机还在三包期内，服务站拒绝保修。",
        "warranty",
        COMMERCIAL,
        GENERAL,
        "after_sales",
        False,
    ),
]


@pytest.mark.parametrize(
    ("title", "description", "rule_id", "category", "urgency", "department", "report"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_default_rules_on_realistic_complaints(
    title: str,
    description: str,
    rule_id: str,
    category: ComplaintCategory,
    urgency: Urgency,
    department: str,
    report: bool,
) -> None:
    decision = decide(title, description)
    assert decision.matched
    assert (
        decision.rule_id,
        decision.category,
        decision.urgency,
        decision.owner_department,
        decision.quality_report_needed,
    ) == (rule_id, category, urgency, department, report)


def test_nothing_recognisable_goes_to_the_manual_queue() -> None:
    decision = decide("其他问题", "希望贵公司能在我们县城开一家门店。")
    assert not decision.matched
    assert decision.rule_id is None and decision.category is None
    assert decision.urgency is GENERAL


def test_an_urgent_signal_without_a_category_is_still_urgent_in_the_queue() -> None:
    decision = decide("请尽快联系", "我们整个车队停运了。")
    assert not decision.matched
    assert decision.urgency is URGENT
    assert decision.escalations == ("breakdown",)


def test_a_car_that_will_not_catch_fire_is_not_on_fire() -> None:
    # 打不着火 ("won't fire up") contains 着火 ("catches fire").
    decision = decide("打不着火", "早上打不着火。")
    assert decision.rule_id == "engine-failure"
    assert decision.urgency is IMPORTANT


def test_negative_keywords_stop_a_rule() -> None:
    decision = decide("检查结果", "经检查没有漏油，但是冷车启动有异响。")
    assert decision.rule_id == "engine-failure"  # not oil-leak


def test_key_accounts_never_wait_in_the_manual_queue() -> None:
    decision = decide("请回电", "关于下季度的合作，请客户经理回电。", key_account=True)
    assert decision.matched and decision.rule_id == KEY_ACCOUNT_RULE_ID
    assert decision.owner_department == "csc"
    assert decision.urgency is IMPORTANT


def test_key_account_raises_a_general_complaint_to_important() -> None:
    decision = decide("发票金额错误", "发票上的价格不对。", key_account=True)
    assert decision.rule_id == "commercial" and decision.urgency is IMPORTANT
    strategic = decide("发票金额错误", "发票上的价格不对。", customer_tier=CustomerTier.strategic)
    assert strategic.urgency is IMPORTANT


def test_text_is_normalised_full_width_upper_case_and_ocr_spaces() -> None:
    assert decide("ＥＮＧＩＮＥ ＬＥＡＫＩＮＧ ＯＩＬ").rule_id == "oil-leak"
    assert decide("发 动 机 漏 油", "传真扫描件").rule_id == "oil-leak"


def test_english_keywords_must_start_a_word() -> None:
    # "late" must not fire inside "plate", nor "fire" inside "bonfire".
    decision = decide("Number plate", "The number plate bracket is loose near the bonfire pit.")
    assert not decision.matched and decision.urgency is GENERAL


def test_english_keywords_are_found_inside_chinese_text() -> None:
    decision = decide("发动机noise很大", "冷车启动后有noise。")
    assert decision.rule_id == "engine-failure"


def test_the_same_facts_always_get_the_same_decision() -> None:
    assert decide("发动机异响", "怠速时有明显异响。") == decide("发动机异响", "怠速时有明显异响。")


def custom(**document: Any) -> RuleSet:
    return RuleSet("t", RuleSetDocument.model_validate(document))


def facts(**values: Any) -> Facts:
    base: dict[str, Any] = {"title": "问题", "description": "", "channel": Channel.web}
    return Facts(**{**base, **values})


OUTCOME = {"category": "product_quality", "urgency": "important", "owner_department": "technical"}


def test_conditions_on_product_channel_tier_segment_and_attachments() -> None:
    rules = custom(
        rules=[
            {
                "id": "gas-engines",
                "when": {
                    "product": ["YC*N*", "K13"],
                    "channel": ["email", "fax"],
                    "tier": ["key"],
                    "segment": ["oem"],
                    "attachments": True,
                },
                "then": OUTCOME,
            }
        ]
    )
    good = {
        "product_model": "yc6k-n400",
        "channel": Channel.email,
        "customer_tier": CustomerTier.key,
        "customer_segment": "oem",
        "attachment_count": 2,
    }
    assert rules.decide(facts(**good)).rule_id == "gas-engines"
    assert rules.decide(facts(**{**good, "product_model": "K13"})).matched
    for change in (
        {"product_model": "YC4S"},
        {"product_model": None},
        {"channel": Channel.hotline},
        {"customer_tier": CustomerTier.general},
        {"customer_segment": "dealer"},
        {"attachment_count": 0},
    ):
        assert not rules.decide(facts(**{**good, **change})).matched, change


def test_all_requires_every_group_and_first_match_wins() -> None:
    rules = custom(
        synonyms={"leak": ["漏油", "leak"], "turbo": ["增压器", "turbo"]},
        rules=[
            {"id": "turbo-leak", "when": {"all": ["@leak", "@turbo"]}, "then": OUTCOME},
            {
                "id": "leak",
                "when": {"any": ["@leak"]},
                "then": {**OUTCOME, "owner_department": "quality"},
            },
        ],
    )
    assert rules.decide(facts(title="增压器漏油")).rule_id == "turbo-leak"
    assert rules.decide(facts(title="缸盖漏油")).rule_id == "leak"


def test_disabled_rules_do_not_match() -> None:
    rules = custom(
        rules=[{"id": "off", "enabled": False, "when": {"any": ["漏油"]}, "then": OUTCOME}]
    )
    assert not rules.decide(facts(title="漏油")).matched


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"rules": [{"id": "a", "when": {"any": ["@nope"]}, "then": OUTCOME}]}, "unknown synonym"),
        ({"rules": [{"id": "a", "then": OUTCOME}, {"id": "a", "then": OUTCOME}]}, "unique"),
        (
            {"rules": [{"id": "a", "then": {**OUTCOME, "owner_department": "marketing"}}]},
            "owner_department",
        ),
        ({"rules": [{"id": "Bad Id", "then": OUTCOME}]}, "pattern"),
        ({"rules": [{"id": "a", "when": {"colour": ["red"]}, "then": OUTCOME}]}, "colour"),
        ({"synonyms": {"empty": []}}, "empty"),
    ],
)
def test_invalid_rule_sets_are_refused(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        RuleSetDocument.model_validate(document)


def test_the_shipped_file_parses_and_every_group_is_used() -> None:
    document = default_document()
    used = {
        term[1:]
        for item in [*document.rules, *document.escalations]
        for term in item.when.terms()
        if term.startswith("@")
    }
    assert used == set(document.synonyms)
    assert parse_document("rules: []").rules == []
