"""One timeline of a complaint, merged from the four services' histories.

Each service answers its own history in its own shape; the functions here turn
each answer (the JSON a service gave, as dicts) into :class:`Entry` — when, who,
what (in both languages), from which service — and :func:`merge` puts them in
one order, oldest first (newest last). No I/O: the route fetches, this sorts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: The order of the sources when two entries carry the same instant: the
#: service earlier in the pipeline first (intake receives, then routing triages…).
SOURCES = ("intake", "routing", "rectification", "notify")

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Entry:
    at: datetime
    source: str  # one of SOURCES
    who: str | None
    zh: str  # what happened, in Chinese
    en: str  # and in English
    detail: str | None = None
    kind: str = ""  # a stable code (e.g. "intake.received"), for styling and tests


def moment(value: str | datetime | None) -> datetime | None:
    """An API's ISO instant as an aware datetime (a naive one is taken as UTC)."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cut(text: str | None, limit: int = 300) -> str | None:
    if not text:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- intake --------------------------------------------------------------------

_AMENDMENT = {
    "note": ("补充备注", "Note added"),
    "call": ("客户再次来电", "Customer called again"),
    "email": ("客户来信补充", "Customer's mail added"),
    "web": ("客户在网页补充", "Customer added on the web"),
    "transcription": ("录入传真/信件文字", "Fax/letter text typed in"),
}


def from_intake(complaint: Json) -> list[Entry]:
    """Received, every amendment, and the withdrawal when intake says when."""
    entries: list[Entry] = []
    received = moment(complaint.get("received_at"))
    if received:
        channel = complaint.get("channel") or ""
        entries.append(
            Entry(
                received,
                "intake",
                complaint.get("received_by"),
                f"受理投诉（{channel}）",
                f"Complaint received ({channel})",
                _cut(complaint.get("title")),
                "intake.received",
            )
        )
    for amendment in complaint.get("amendments") or []:
        at = moment(amendment.get("amended_at"))
        if at is None:
            continue
        zh, en = _AMENDMENT.get(amendment.get("kind", ""), ("补充", "Amended"))
        entries.append(
            Entry(
                at,
                "intake",
                amendment.get("by"),
                zh,
                en,
                _cut(amendment.get("text")),
                "intake.amended",
            )
        )
    withdrawn = moment(complaint.get("withdrawn_at"))
    if withdrawn:
        entries.append(
            Entry(
                withdrawn,
                "intake",
                complaint.get("withdrawn_by"),
                "投诉已撤销",
                "Complaint withdrawn",
                _cut(complaint.get("withdrawal_reason")),
                "intake.withdrawn",
            )
        )
    return entries


# -- routing -------------------------------------------------------------------

_CLOCK = {
    "first_response": ("首次响应", "first response"),
    "resolution_plan": ("解决方案", "resolution plan"),
}


def clock_name(clock: Json) -> tuple[str, str]:
    name = str(clock.get("clock") or "")
    return _CLOCK.get(name, (name, name.replace("_", " ")))


def from_routing(history: Iterable[Json], triage: Json | None = None) -> list[Entry]:
    """Every triage decision and reassignment; from the triage, the SLA warnings and
    breaches raised and a duplicate link."""
    entries: list[Entry] = []
    for record in history:
        at = moment(record.get("recorded_at"))
        if at is None:
            continue
        dept = record.get("owner_department") or ""
        what = f"{record.get('category') or ''}, {record.get('urgency') or ''}"
        kind = record.get("kind")
        if kind == "reassignment":
            zh, en = f"改派给 {dept}", f"Reassigned to {dept}"
        elif kind == "person":
            zh, en = f"人工分派给 {dept}（{what}）", f"Triaged by hand to {dept} ({what})"
        else:
            zh, en = f"按规则分派给 {dept}（{what}）", f"Triaged by rule to {dept} ({what})"
        detail = record.get("reason") or (
            f"rule {record['rule_id']}" if record.get("rule_id") else None
        )
        entries.append(
            Entry(at, "routing", record.get("decided_by"), zh, en, _cut(detail), f"routing.{kind}")
        )
    if triage:
        for clock in triage.get("clocks") or []:
            zh_name, en_name = clock_name(clock)
            warned = moment(clock.get("warning_sent_at"))
            if warned:
                entries.append(
                    Entry(
                        warned,
                        "routing",
                        None,
                        f"时限预警：{zh_name}",
                        f"SLA warning: {en_name}",
                        None,
                        "routing.sla_warning",
                    )
                )
            breached = moment(clock.get("breached_at"))
            if breached:
                entries.append(
                    Entry(
                        breached,
                        "routing",
                        None,
                        f"超出时限：{zh_name}",
                        f"SLA breached: {en_name}",
                        None,
                        "routing.sla_breach",
                    )
                )
        duplicate_of = triage.get("duplicate_of")
        linked = moment(triage.get("triaged_at"))
        if duplicate_of and linked:
            entries.append(
                Entry(
                    linked,
                    "routing",
                    triage.get("decided_by"),
                    "标记为重复投诉",
                    "Marked as a duplicate",
                    str(duplicate_of),
                    "routing.duplicate",
                )
            )
    return entries


# -- rectification ---------------------------------------------------------------

_CASE_ACTIONS = {
    "case.opened": ("立案", "Case opened"),
    "case.first_response_recorded": ("已首次响应客户", "First response to the customer"),
    "case.customer_wait_started": ("等待客户", "Waiting for the customer"),
    "case.customer_wait_ended": ("客户已回复", "The customer answered"),
    "case.owner_changed": ("责任部门变更", "Owner department changed"),
    "customer.decision_before_case": (
        "客户的决定（立案前）",
        "Customer's decision (before the case)",
    ),
    "customer.feedback_requested": (
        "客户要求整改反馈",
        "Customer asked for rectification feedback",
    ),
    "resolution.proposed": ("提出解决方案", "Resolution proposed"),
    "resolution.accepted": ("客户接受方案", "Customer accepted the plan"),
    "resolution.rejected": ("客户拒绝方案", "Customer rejected the plan"),
    "resolution.implemented": ("方案已实施", "Resolution implemented"),
    "callback.done": ("已回访", "Satisfaction callback done"),
    "rectification.opened": ("发出整改", "Rectification opened"),
    "rectification.verified": ("整改验证通过", "Rectification verified"),
    "rectification.waived": ("整改已豁免", "Rectification waived"),
    "complaint.closed": ("结案", "Case closed"),
    "complaint.reopened": ("重新打开", "Case reopened"),
    "complaint.withdrawn": ("投诉已撤销", "Complaint withdrawn"),
}

_RECT_ACTIONS = {
    "instruct": ("下达服务整改指令", "Service instruction issued"),
    "issue_notice": ("发出整改通知", "Rectification notice issued"),
    "dispatch": ("通知已发给供应商", "Notice dispatched to the supplier"),
    "mark_done": ("整改完成", "Rectification done"),
    "record_supplier_response": ("供应商已答复（8D）", "Supplier answered (8D)"),
    "pass_verification": ("验证通过", "Verification passed"),
    "fail_verification": ("验证未通过", "Verification failed"),
    "waive": ("豁免", "Waived"),
    "attach_evidence": ("附上证据", "Evidence attached"),
    "send_feedback": ("向客户反馈整改", "Rectification fed back to the customer"),
}


def from_case(case: Json) -> list[Entry]:
    """The case's full history (one line per transition or note)."""
    entries: list[Entry] = []
    for line in case.get("history") or []:
        at = moment(line.get("at"))
        if at is None:
            continue
        action = line.get("action") or ""
        zh, en = _CASE_ACTIONS.get(action, (action or "状态变更", action or "Status changed"))
        status, before = line.get("status"), line.get("from_status")
        if status and before and status != before:
            zh, en = f"{zh}（→ {status}）", f"{en} (→ {status})"
        entries.append(
            Entry(
                at,
                "rectification",
                line.get("by"),
                zh,
                en,
                _cut(line.get("detail")),
                "case." + action,
            )
        )
    return entries


def from_rectification(rect: Json) -> list[Entry]:
    """One rectification's history, each line named by the rectification's number."""
    number = rect.get("number") or ""
    entries: list[Entry] = []
    for line in rect.get("history") or []:
        at = moment(line.get("at"))
        if at is None:
            continue
        action = str(line.get("action") or "")
        if action.startswith("feedback_"):
            zh, en = "客户对整改反馈的回复", "Customer's answer to the feedback"
        else:
            zh, en = _RECT_ACTIONS.get(action, (action, action.replace("_", " ")))
        entries.append(
            Entry(
                at,
                "rectification",
                line.get("by"),
                f"{number} {zh}".strip(),
                f"{number} {en}".strip(),
                _cut(line.get("note")),
                "rectification." + action,
            )
        )
    return entries


def from_quality_reports(reports: Iterable[Json]) -> list[Entry]:
    """Each External Quality Information Report issued for the complaint."""
    entries: list[Entry] = []
    for report in reports:
        at = moment(report.get("issued_at"))
        if at is None:
            continue
        number = report.get("number") or ""
        entries.append(
            Entry(
                at,
                "rectification",
                report.get("issued_by"),
                f"发出外部质量信息报告 {number}".strip(),
                f"External quality information report {number} issued".replace("  ", " "),
                _cut(report.get("failure_description")),
                "rectification.quality_report",
            )
        )
    return entries


# -- notify ----------------------------------------------------------------------


def from_notifications(notifications: Iterable[Json]) -> list[Entry]:
    """Each message sent (or failed or skipped), when it was sent or else created."""
    entries: list[Entry] = []
    for note in notifications:
        at = moment(note.get("sent_at")) or moment(note.get("created_at"))
        if at is None:
            continue
        channel, template = note.get("channel") or "", note.get("template") or ""
        recipient = note.get("recipient_kind") or ""
        status = note.get("status") or ""
        entries.append(
            Entry(
                at,
                "notify",
                None,
                f"通知 {recipient}（{channel}，{template}）：{status}",
                f"Notified {recipient} ({channel}, {template}): {status}",
                _cut(note.get("last_error")) if status != "sent" else None,
                "notify." + status,
            )
        )
    return entries


def merge(*parts: Iterable[Entry]) -> list[Entry]:
    """All entries, oldest first; on the same instant the pipeline's order
    (intake, routing, rectification, notify), then each source's own order."""
    numbered = [(entry, i) for part in parts for i, entry in enumerate(part)]
    rank = {name: n for n, name in enumerate(SOURCES)}
    numbered.sort(key=lambda pair: (pair[0].at, rank.get(pair[0].source, len(rank)), pair[1]))
    return [entry for entry, _ in numbered]
