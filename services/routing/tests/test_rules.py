"""The rule table on complaints as customers actually write them."""

from __future__ import annotations

import pytest
from tousu_routing.domain.triage import triage

from tousu_common.events import ComplaintCategory, Urgency
from tousu_routing.domain.rules import DEFAULT_RULE, RULES, RULESET_VERSION, Rule


def test_oil_leak_on_a_new_engine_goes_to_quality_as_important() -> None:
    decision = triage(
        "发动机漏油",
        "新车行驶不到三千公里，发动机缸盖处持续漏油，4S店检查后说需要返厂。",
        "YC6K",
    )
    assert decision.category is ComplaintCategory.product_quality
    assert decision.owner_department == "quality"
    assert decision.urgency is Urgency.important
    assert decision.rule_id == "product-quality"
    assert decision.ruleset_version == RULESET_VERSION


def test_breakdown_that_stops_the_customer_is_urgent() -> None:
    decision = triage(
        "车辆高速抛锚",
        "运输途中发动机突然熄火抛锚，货物无法按时送达，整个车队停运，请尽快派人处理。",
        "YC4S",
    )
    assert decision.category is ComplaintCategory.product_quality
    assert decision.urgency is Urgency.urgent
    assert "抛锚" in decision.urgent_keywords


def test_english_engine_fault_with_a_stopped_line_is_urgent() -> None:
    decision = triage(
        "Engine fault stopped our assembly line",
        "Three engines delivered last week show a fault code on the test bench; "
        "our assembly line is at a standstill until this is fixed.",
        "K13",
    )
    assert decision.category is ComplaintCategory.product_quality
    assert decision.owner_department == "quality"
    assert decision.urgency is Urgency.urgent


def test_rude_service_station_goes_to_the_csc() -> None:
    decision = triage(
        "维修站服务态度差",
        "在服务站等待了四个小时没人理，师傅态度很差，还推诿说不归他们管。",
        None,
    )
    assert decision.category is ComplaintCategory.service_quality
    assert decision.owner_department == "csc"
    assert decision.urgency is Urgency.general


def test_a_passing_mention_of_the_engine_does_not_outweigh_a_service_complaint() -> None:
    decision = triage(
        "Rude technician",
        "The service technician was rude and I was kept waiting all day "
        "while they looked at my engine.",
        None,
    )
    assert decision.category is ComplaintCategory.service_quality
    assert decision.rule_id == "service-quality"


def test_late_delivery_goes_to_logistics() -> None:
    decision = triage("发货延迟", "合同约定上周交货，至今物流信息没有更新。", None)
    assert decision.category is ComplaintCategory.delivery
    assert decision.owner_department == "logistics"
    assert decision.urgency is Urgency.important


def test_english_late_shipment_goes_to_logistics() -> None:
    decision = triage(
        "Shipment is late",
        "Our order of 20 engines was promised for May 3 and is delayed again.",
        None,
    )
    assert decision.category is ComplaintCategory.delivery
    assert decision.owner_department == "logistics"


def test_wrong_invoice_goes_to_sales() -> None:
    decision = triage(
        "发票金额错误", "发票上的价格和合同价格不一致，要求重新开票并退款差价。", None
    )
    assert decision.category is ComplaintCategory.commercial
    assert decision.owner_department == "sales"
    assert decision.urgency is Urgency.general


def test_english_refund_request_goes_to_sales() -> None:
    decision = triage("Refund not received", "We were promised a refund on invoice 4471.", None)
    assert decision.category is ComplaintCategory.commercial
    assert decision.owner_department == "sales"


def test_nothing_recognisable_falls_back_to_the_csc() -> None:
    decision = triage("其他问题", "希望贵公司能在我们县城开一家门店。", None)
    assert decision.rule_id == DEFAULT_RULE.rule_id == "default"
    assert decision.category is ComplaintCategory.other
    assert decision.urgency is Urgency.general
    assert decision.owner_department == "csc"
    assert decision.matched_keywords == ()


def test_urgent_signal_raises_any_category_to_urgent() -> None:
    decision = triage("交付延迟导致停产", "发动机迟迟不到货，我们的总装线已经停产两天。", None)
    assert decision.urgency is Urgency.urgent


def test_english_keywords_match_whatever_the_case() -> None:
    decision = triage("ENGINE LEAKING OIL", "Oil LEAK under the engine.", None)
    assert decision.category is ComplaintCategory.product_quality
    assert "leak" in decision.matched_keywords


def test_english_keywords_must_start_a_word() -> None:
    # "late" must not fire on "plate", nor "fire" on "bonfire".
    decision = triage(
        "Number plate", "The number plate bracket is loose near the bonfire pit.", None
    )
    assert decision.category is ComplaintCategory.other
    assert decision.urgency is Urgency.general


def test_english_keywords_are_found_inside_chinese_text() -> None:
    decision = triage("发动机noise很大", "冷车启动后有noise，怀疑是defect。", None)
    assert decision.category is ComplaintCategory.product_quality
    assert {"noise", "defect"} <= set(decision.matched_keywords)


def test_product_model_is_part_of_the_text() -> None:
    decision = triage("问题反馈", "请联系我。", "发动机 YC6MK")
    assert decision.category is ComplaintCategory.product_quality


def test_equal_hits_go_to_the_earlier_rule() -> None:
    # One product keyword, one service keyword: the table order decides.
    decision = triage("异响", "维修站", None)
    assert decision.rule_id == RULES[0].rule_id == "product-quality"


def test_the_same_text_always_gets_the_same_decision() -> None:
    args = ("发动机异响", "怠速时有明显异响。", "YC6L")
    assert triage(*args) == triage(*args)


@pytest.mark.parametrize("rule", [*RULES, DEFAULT_RULE], ids=lambda rule: rule.rule_id)
def test_every_rule_has_a_known_urgency_below_urgent(rule: Rule) -> None:
    # Urgent comes only from urgent signals, never from a category by itself.
    assert rule.urgency in (Urgency.important, Urgency.general)


def test_rule_ids_are_unique() -> None:
    ids = [rule.rule_id for rule in (*RULES, DEFAULT_RULE)]
    assert len(ids) == len(set(ids))
