"""The triage rule table (分诊规则) — data, not code.

Changing a keyword, a department or an urgency is an edit here plus a bump of
:data:`RULESET_VERSION`, which every triage records so that a decision can be
explained later with the rules that made it. The engine that applies the table
is :func:`tousu_routing.domain.triage.triage`.

Keywords are matched case-insensitively against title + description + product
model. Chinese keywords match anywhere (Chinese is written without spaces);
English keywords must start a word (Chinese may precede them), so ``leak``
finds "leaking" but ``late`` does not fire on "plate".
"""

from __future__ import annotations

from dataclasses import dataclass

from tousu_common.events import ComplaintCategory, Urgency

RULESET_VERSION = "2026.11-1"


@dataclass(frozen=True)
class Rule:
    """One category rule: if its keywords match best, the complaint is routed here.

    ``urgency`` is the category's base urgency; an urgent signal anywhere in the
    text (:data:`URGENT_KEYWORDS`) raises any category to urgent.
    """

    rule_id: str
    keywords: tuple[str, ...]
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str


# A breakdown that stops the customer's business is urgent whatever its
# category (seed 004: 紧急需求, e.g. a sudden product failure).
URGENT_KEYWORDS: tuple[str, ...] = (
    "停机",
    "停产",
    "停线",
    "抛锚",
    "趴窝",
    "起火",
    "着火",
    "安全",
    "事故",
    "breakdown",
    "broke down",
    "stopped",
    "standstill",
    "line down",
    "fire",
    "safety",
    "accident",
)

# Order breaks ties: when two rules match equally well, the earlier one wins,
# so a product fault outranks the service around it (it needs the Quality
# department's rectification process).
RULES: tuple[Rule, ...] = (
    Rule(
        rule_id="product-quality",
        keywords=(
            "漏油",
            "渗油",
            "漏水",
            "异响",
            "故障",
            "冒烟",
            "冒黑烟",
            "损坏",
            "断裂",
            "裂纹",
            "磨损",
            "熄火",
            "无法启动",
            "油耗",
            "发动机",
            "leak",
            "noise",
            "defect",
            "broken",
            "fault",
            "smoke",
            "crack",
            "wear",
            "stall",
            "won't start",
            "engine",
        ),
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="quality",
    ),
    Rule(
        rule_id="delivery",
        keywords=(
            "发货",
            "交付",
            "交货",
            "延迟",
            "延期",
            "物流",
            "到货",
            "缺件",
            "错发",
            "delivery",
            "delivered",
            "late",
            "delay",
            "shipment",
            "shipping",
            "logistics",
            "missing part",
        ),
        category=ComplaintCategory.delivery,
        urgency=Urgency.important,
        owner_department="logistics",
    ),
    Rule(
        rule_id="service-quality",
        keywords=(
            "态度",
            "服务",
            "维修站",
            "服务站",
            "等待",
            "推诿",
            "不理",
            "师傅",
            "售后",
            "rude",
            "service",
            "technician",
            "wait",
            "unhelpful",
            "dealer",
        ),
        category=ComplaintCategory.service_quality,
        urgency=Urgency.general,
        owner_department="csc",
    ),
    Rule(
        rule_id="commercial",
        keywords=(
            "价格",
            "发票",
            "合同",
            "退款",
            "退货",
            "赔偿",
            "索赔",
            "收费",
            "报价",
            "price",
            "pricing",
            "invoice",
            "contract",
            "refund",
            "overcharge",
            "compensation",
            "quote",
        ),
        category=ComplaintCategory.commercial,
        urgency=Urgency.general,
        owner_department="sales",
    ),
)

# Nothing matched: the Customer Service Centre triages it by hand.
DEFAULT_RULE = Rule(
    rule_id="default",
    keywords=(),
    category=ComplaintCategory.other,
    urgency=Urgency.general,
    owner_department="csc",
)
