"""Notification templates: Jinja2 files in ``templates/notifications/``, one set per
message and language — ``<name>.<lang>.subject.txt``, ``<name>.<lang>.txt``,
``<name>.<lang>.html`` (autoescaped) and optionally ``<name>.<lang>.sms.txt``
(without one, an SMS carries the subject line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

from tousu_notify.domain.model import LANGUAGES

DEPARTMENTS: dict[str, dict[str, str]] = {
    "zh": {
        "csc": "客户服务中心",
        "quality": "质量部",
        "supply": "供应部",
        "sales": "销售部",
        "logistics": "物流部",
        "technical": "技术部",
        "production": "生产部",
        "design": "设计部",
        "after_sales": "售后服务部",
    },
    "en": {
        "csc": "Customer Service Centre",
        "quality": "Quality department",
        "supply": "Supply department",
        "sales": "Sales",
        "logistics": "Logistics",
        "technical": "Technical department",
        "production": "Production",
        "design": "Design",
        "after_sales": "After-sales service",
    },
}

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "product_quality": "产品质量",
        "service_quality": "服务质量",
        "delivery": "交付",
        "commercial": "商务（价格、合同）",
        "other": "其他",
        "urgent": "紧急",
        "important": "重要",
        "general": "一般",
        "strategic": "战略客户",
        "key": "重要客户",
        "first_response": "首次响应",
        "resolution_plan": "解决方案",
        "repair": "维修",
        "replace": "更换",
        "redeliver": "重新交付",
        "explanation": "说明",
        "compensation": "赔偿",
        "refund": "退款",
        "service_instruction": "服务整改指令",
        "internal_notice": "内部整改通知",
        "supplier_notice": "供应商整改通知",
        "week": "周报",
        "month": "月报",
    },
    "en": {
        "product_quality": "product quality",
        "service_quality": "service quality",
        "delivery": "delivery",
        "commercial": "commercial (price, contract)",
        "other": "other",
        "urgent": "urgent",
        "important": "important",
        "general": "general",
        "strategic": "strategic customer",
        "key": "key customer",
        "first_response": "first response",
        "resolution_plan": "resolution plan",
        "repair": "repair",
        "replace": "replacement",
        "redeliver": "re-delivery",
        "explanation": "explanation",
        "compensation": "compensation",
        "refund": "refund",
        "service_instruction": "service rectification instruction",
        "internal_notice": "internal rectification notice",
        "supplier_notice": "supplier rectification notice",
        "week": "weekly digest",
        "month": "monthly digest",
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str
    language: str


class TemplateMissing(LookupError):
    """No template of that name (a programming error, not a delivery failure)."""


class Templates:
    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.timezone = ZoneInfo(timezone)
        self.env = Environment(
            loader=PackageLoader("tousu_notify", "templates/notifications"),
            # Everything interpolated into HTML is escaped; text parts are plain text.
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            # A missing optional value (no tracking link yet) prints as nothing, not "None".
            finalize=lambda value: "" if value is None else value,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["localtime"] = self._localtime
        self.env.filters["day"] = _day
        self.env.filters["percent"] = _percent

    def render(self, name: str, language: str, context: dict[str, Any]) -> Rendered:
        lang = language if language in LANGUAGES else "zh"
        values = {
            "console_link": None,  # staff messages about one complaint: its console page
            **context,
            "lang": lang,
            "dept": lambda code: DEPARTMENTS[lang].get(code or "", code or ""),
            "label": lambda value: LABELS[lang].get(str(value), str(value)),
            "timezone": str(self.timezone),
        }
        try:
            subject = self.env.get_template(f"{name}.{lang}.subject.txt").render(values)
            text = self.env.get_template(f"{name}.{lang}.txt").render(values)
            html = self.env.get_template(f"{name}.{lang}.html").render(values)
        except TemplateNotFound as missing:
            raise TemplateMissing(f"no template {missing.name}") from missing
        subject = " ".join(subject.split())
        try:
            sms = " ".join(self.env.get_template(f"{name}.{lang}.sms.txt").render(values).split())
        except TemplateNotFound:
            sms = subject
        if values["console_link"]:
            sms = f"{sms} {values['console_link']}"
        return Rendered(subject=subject, text=text, html=html, sms=sms, language=lang)

    def _localtime(self, value: str | datetime | None) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M")


def _day(value: str | date | None) -> str:
    if not value:
        return ""
    return value if isinstance(value, str) else value.isoformat()


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
