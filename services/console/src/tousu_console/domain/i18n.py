"""Chinese by default, English by a switch each person's choice is remembered for.

Templates write every string in both languages at the point of use,
``{{ t("待处理", "Open") }}``: nothing can be translated in one language and
forgotten in the other, and a reviewer reads both side by side. Dates are
shown in the company's timezone (Asia/Shanghai), whatever the server's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")


def parse_language(value: str | None, default: Language = "zh") -> Language:
    return value if value in LANGUAGES else default  # type: ignore[return-value]


class Translator:
    """What a template calls: ``t(zh, en)``, ``when(iso)``, ``day(iso)``."""

    def __init__(self, language: Language, timezone: str = "Asia/Shanghai") -> None:
        self.language = language
        self.zone = ZoneInfo(timezone)

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.language == "zh" else en

    def local(self, value: str | datetime | None) -> datetime | None:
        if value is None or value == "":
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.zone) if moment.tzinfo else moment

    def when(self, value: str | datetime | None) -> str:
        """A moment as people here read it: ``2027-03-04 14:05`` in local time."""
        moment = self.local(value)
        return moment.strftime("%Y-%m-%d %H:%M") if moment else ""

    def day(self, value: str | datetime | None) -> str:
        moment = self.local(value)
        return moment.strftime("%Y-%m-%d") if moment else ""

    def duration(self, seconds: float | None) -> str:
        """Time left (or overdue, negative) on an SLA clock, coarse as people say it."""
        if seconds is None:
            return ""
        sign = "-" if seconds < 0 else ""
        left = abs(int(seconds))
        days, rest = divmod(left, 86_400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        if self.language == "zh":
            parts = [f"{days}天" if days else "", f"{hours}小时" if hours else ""]
            text = "".join(parts) or f"{minutes}分钟"
        else:
            parts = [f"{days}d" if days else "", f"{hours}h" if hours else ""]
            text = " ".join(p for p in parts if p) or f"{minutes}m"
        return sign + text
