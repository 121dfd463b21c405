""" "My work": one page, a section per role the person holds.

Like the complaint page, each section is a fragment its area serves at
``/worklist/<section>``; the page refreshes a section when a change arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tousu_console.api.deps import CurrentViewer, render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Section:
    name: str  # served at /worklist/<name>
    roles: frozenset[str]
    zh: str
    en: str


SECTIONS: tuple[Section, ...] = (
    Section("agent", frozenset({"agent"}), "我最近受理的投诉", "My recent complaints"),
    Section("csc", frozenset({"csc"}), "客服中心：待处理案件", "CSC: open cases"),
    Section(
        "complaints",
        frozenset({"department", "quality", "supply"}),
        "本部门的投诉",
        "My department's complaints",
    ),
    Section(
        "department", frozenset({"department"}), "本部门的整改指令", "My department's instructions"
    ),
    Section(
        "quality",
        frozenset({"quality"}),
        "质量部：报告、通知与验证",
        "Quality: reports, notices, verification",
    ),
    Section(
        "supply",
        frozenset({"supply"}),
        "供应部：待发通知与到期",
        "Supply: notices to dispatch, due dates",
    ),
    Section("manager", frozenset({"manager"}), "超期与升级", "Overdue and escalations"),
)


@router.get("/worklist", response_class=HTMLResponse)
async def worklist(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    held = set(viewer.roles)
    sections = [s for s in SECTIONS if held & s.roles or "admin" in held]
    return render(request, "worklist/page.html", {"sections": sections})
