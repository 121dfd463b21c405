"""A digest's numbers as CSV (for Excel) and as an HTML report with charts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from tousu_notify.domain import digest_charts as charts

LABELS = {
    # categories
    "product_quality": "产品质量 Product quality",
    "service_quality": "服务质量 Service quality",
    "delivery": "交付 Delivery",
    "commercial": "商务 Commercial",
    "other": "其他 Other",
    "untriaged": "未分类 Untriaged",
    "unknown": "未知 Unknown",
    # channels
    "hotline": "热线 Hotline",
    "web": "网站 Web",
    "email": "邮件 E-mail",
    "fax": "传真 Fax",
    "letter": "信函 Letter",
    "visit": "来访 Visit",
    "key_account": "大客户专线 Key account",
    # urgency
    "urgent": "紧急 Urgent",
    "important": "重要 Important",
    "general": "一般 General",
    # tiers and segments
    "strategic": "战略 Strategic",
    "key": "重要 Key",
    "oem": "主机厂 OEM",
    "dealer": "经销商 Dealer",
    "end_customer": "终端用户 End customer",
    # departments
    "csc": "客服中心 CSC",
    "quality": "质量部 Quality",
    "supply": "供应部 Supply",
    "sales": "销售 Sales",
    "logistics": "物流 Logistics",
    "technical": "技术 Technical",
    "production": "生产 Production",
    "design": "设计 Design",
    "after_sales": "售后 After-sales",
    # root causes
    "material": "材料 Material",
    "process": "工艺 Process",
    "workmanship": "操作 Workmanship",
    "equipment": "设备 Equipment",
    "service": "服务 Service",
    "documentation": "文件 Documentation",
    # clocks
    "first_response": "首次响应 First response",
    "resolution_plan": "解决方案 Resolution plan",
}
TIER_GENERAL = "一般 General"


def label(value: Any) -> str:
    return LABELS.get(str(value), str(value))


# -- CSV ---------------------------------------------------------------------


def _rows(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _rows(inner, (*path, str(key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _rows(inner, (*path, str(index)))
    else:
        yield ".".join(path[:-1]), path[-1], value


def to_csv(numbers: Mapping[str, Any]) -> bytes:
    """One row per KPI and dimension value (``kpi,dimension,value``), UTF-8 with a
    BOM so that Excel shows the Chinese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["kpi", "dimension", "value"])
    for kpi, dimension, value in _rows(numbers, ()):
        writer.writerow([kpi, dimension, "" if value is None else value])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# -- HTML --------------------------------------------------------------------

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates" / "digests"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["label"] = label
_env.filters["pct"] = lambda v: "—" if v is None else f"{v:.1%}"
_env.filters["num"] = lambda v: (
    "—" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:,.2f}")
)


def _top(mapping: Mapping[str, int], limit: int = 10) -> list[tuple[str, float]]:
    items = list(mapping.items())
    head = [(label(k), float(v)) for k, v in items[:limit]]
    rest = sum(v for _, v in items[limit:])
    if rest:
        head.append(("其他 Others", float(rest)))
    return head


def _change(numbers: Mapping[str, Any], name: str, *, rate: bool = False) -> dict[str, Any]:
    delta = numbers["change"].get(name)
    previous = numbers["previous"].get(name)
    if delta is None:
        return {"text": "—", "direction": "flat", "previous": previous}
    text = f"{delta * 100:+.1f} pt" if rate else f"{delta:+g}"
    direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return {"text": text, "direction": direction, "previous": previous}


def to_html(numbers: Mapping[str, Any], *, generated_at: str, revision: int) -> str:
    trend = numbers["trend"]
    pareto_items = [
        (label(item["root_cause"]), item["count"], item["cumulative_share"] or 0)
        for item in numbers["rectifications"]["root_causes"]
    ]
    distribution = numbers["satisfaction"]["distribution"]
    fr = numbers["timeliness"]["first_response_by_urgency"]
    svg = {
        "category": charts.hbar(_top(numbers["by"]["category"])),
        "channel": charts.hbar(_top(numbers["by"]["channel"]), color=charts.PALETTE[2]),
        "trend": charts.lines(
            [item["period"] for item in trend],
            [
                ("新增 Received", [item["received"] for item in trend]),
                ("关闭 Closed", [item["closed"] for item in trend]),
            ],
        ),
        "trend_rate": charts.lines(
            [item["period"] for item in trend],
            [("及时率 On-time", [item["first_response_rate"] for item in trend])],
            percent=True,
        ),
        "pareto": charts.pareto(pareto_items),
        "fr_ring": charts.ring(
            numbers["timeliness"]["first_response"]["rate"], label="首次响应 First response"
        ),
        "rp_ring": charts.ring(
            numbers["timeliness"]["resolution_plan"]["rate"], label="方案 Resolution plan"
        ),
        "fr_by_urgency": charts.hbar(
            [(label(k), round((v["rate"] or 0) * 100, 1)) for k, v in fr.items()],
            color=charts.PALETTE[4],
        ),
        "satisfaction": charts.columns(
            [(f"{score}分", float(distribution[score])) for score in sorted(distribution)],
            colors=("#c0392b", "#e07b39", "#d4a017", "#7fb35d", "#3a9d5d"),
        ),
        "ageing": charts.columns(
            [(name, float(count)) for name, count in numbers["ageing"].items()],
            colors=("#3a9d5d", "#7fb35d", "#d4a017", "#e07b39", "#c0392b"),
        ),
    }
    tiles = [
        ("新增投诉 Received", numbers["volume"]["received"], _change(numbers, "received"), "n"),
        ("已关闭 Closed", numbers["volume"]["closed"], _change(numbers, "closed"), "n"),
        (
            "未结 Open backlog",
            numbers["volume"]["open_backlog_end"],
            _change(numbers, "open_backlog_end"),
            "n",
        ),
        (
            "需求响应及时率 On-time response",
            numbers["timeliness"]["first_response"]["rate"],
            _change(numbers, "first_response_rate", rate=True),
            "pct",
        ),
        (
            "处理完成率 Completion",
            numbers["completion"]["rate"],
            _change(numbers, "completion_rate", rate=True),
            "pct",
        ),
        (
            "满意率 Satisfied",
            numbers["satisfaction"]["satisfied_share"],
            _change(numbers, "satisfied_share", rate=True),
            "pct",
        ),
        (
            "重开率 Reopen rate",
            numbers["reopen"]["rate"],
            _change(numbers, "reopen_rate", rate=True),
            "pct",
        ),
    ]
    template = _env.get_template("digest.html.j2")
    return template.render(
        n=numbers,
        svg={name: Markup(value) for name, value in svg.items()},  # noqa: S704 - built by us, escaped
        tiles=tiles,
        generated_at=generated_at,
        revision=revision,
        title=("业务运作情况周报" if numbers["period"]["kind"] == "week" else "业务运作情况月报"),
        title_en=(
            "Weekly operations digest"
            if numbers["period"]["kind"] == "week"
            else "Monthly operations digest"
        ),
    )
