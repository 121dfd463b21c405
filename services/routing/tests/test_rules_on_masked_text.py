"""Triage reads complaint text as it arrives on the topic, with phone numbers,
e-mail addresses and ID numbers masked (``tousu_common.privacy``). The shipped
rules match words, never digits, so a complaint triages the same masked or not."""

from __future__ import annotations

import pytest

from tousu_common.events.catalog import Channel
from tousu_common.privacy import mask_text
from tousu_routing.domain.rules import Facts, RuleSet, default_document

DEFAULT = RuleSet("1", default_document())
CONTACT = (
    "联系电话13812345678（微信同号），座机021-5555 1234转806，邮箱zhang.san@163.com，"
    "身份证号11010519491231002X。"
)

TEXTS = [
    ("发动机漏油，车辆停在高速上", "客户的卡车在高速上发动机漏油，已经停机，急需处理。"),
    ("车辆无法启动", "早上车辆无法启动，打不着火，已经趴窝在工地两天了。"),
    ("Engine leaking oil", "Our YC6K is leaking oil; call +86 139 8765 4321 or li.si@example.com"),
    ("配件质量差", "新换的零部件质量问题严重，用了一周就坏。"),
    ("发货延迟", "合同约定上周交货，至今物流信息没有更新。订单号PO-2027-000123。"),
    ("服务态度差", "4S店维修师傅态度恶劣，反复维修修不好。"),
    ("发票金额不对", "开票金额与合同不符，多收了¥12,800.00元。"),
]


@pytest.mark.parametrize(("title", "description"), TEXTS)
def test_masked_text_triages_as_the_original(title: str, description: str) -> None:
    original = f"{description}\n{CONTACT}"
    masked = mask_text(original)
    assert masked != original and "13812345678" not in masked
    plain = DEFAULT.decide(Facts(title=title, description=original, channel=Channel.hotline))
    on_topic = DEFAULT.decide(
        Facts(title=mask_text(title), description=masked, channel=Channel.hotline)
    )
    assert on_topic == plain
    assert plain.matched, "the case must really exercise a rule"
