"""The customer's view of a complaint's life: what happened, in plain words (pure).

Intake builds this read model from the events other services publish
(``tousu.routing``, ``tousu.cases``) and a few of its own; the tracking page
(``/track/{reference}``) shows it. :func:`entry_for` turns one event into a
timeline entry (or None for what a customer need not see: SLA clocks,
supplier details, internal notes); :func:`advance` moves the complaint's
tracking state; :func:`describe` and :func:`stage_label` put both into
Chinese or English.

Entries keep only what the page shows — codes, dates, plan actions — and no
personal data: the page is reached with a token, but it is still the web.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tousu_common.events import Event
from tousu_common.events.catalog import (
    CallbackDone,
    CaseOpened,
    ComplaintAmended,
    ComplaintClosed,
    ComplaintFeedbackRequested,
    ComplaintReassigned,
    ComplaintReopened,
    ComplaintTriaged,
    ComplaintWithdrawn,
    CustomerWaitEnded,
    CustomerWaitStarted,
    DuplicateLinked,
    DuplicateUnlinked,
    FeedbackAnswerReceived,
    FirstResponseRecorded,
    RectificationFeedbackRequested,
    RectificationInstructed,
    RectificationNoticeIssued,
    ResolutionAccepted,
    ResolutionDecisionReceived,
    ResolutionImplemented,
    ResolutionProposed,
    ResolutionRejected,
    VerificationPassed,
)

#: Event types the tracking read model consumes, by topic.
ROUTING_TYPES = (
    "complaint.triaged",
    "complaint.reassigned",
    "complaint.duplicate_linked",
    "complaint.duplicate_unlinked",
)
CASE_TYPES = (
    "case.opened",
    "case.first_response_recorded",
    "case.customer_wait_started",
    "case.customer_wait_ended",
    "resolution.proposed",
    "resolution.accepted",
    "resolution.rejected",
    "resolution.implemented",
    "callback.done",
    "rectification.instructed",
    "rectification.notice_issued",
    "rectification.verification_passed",
    "rectification.feedback_requested",
    "complaint.closed",
    "complaint.reopened",
)
OWN_TYPES = (
    "complaint.amended",
    "complaint.withdrawn",
    "resolution.decision_received",
    "complaint.feedback_requested",
    "rectification.feedback_answer_received",
)


@dataclass(frozen=True)
class Entry:
    kind: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackingState:
    """Where a complaint stands, as the customer sees it."""

    stage: str = "received"
    stage_at: datetime | None = None
    owner_department: str | None = None
    category: str | None = None
    #: The plan waiting for the customer's answer: {"version", "actions", "investigation"}.
    pending_plan: dict[str, Any] | None = None
    #: The customer already answered that plan here or by mail ("accept" / "reject").
    decision_sent: str | None = None


def _plan_actions(proposed: ResolutionProposed) -> list[dict[str, Any]]:
    return [
        {
            "kind": action.kind.value,
            "description": action.description,
            "due_date": action.due_date.isoformat(),
            "amount": str(action.amount) if action.amount is not None else None,
            "currency": action.currency,
        }
        for action in proposed.actions
    ]


def entry_for(event: Event) -> Entry | None:
    """The timeline entry an event makes, or None if the customer does not see it."""
    data = event.data
    match data:
        case ComplaintTriaged():
            return Entry(
                "retriaged" if data.retriage else "triaged",
                data.triaged_at,
                {
                    "category": data.category.value,
                    "urgency": data.urgency.value,
                    "department": data.owner_department,
                },
            )
        case ComplaintReassigned():
            return Entry("reassigned", data.reassigned_at, {"department": data.to_department})
        case DuplicateLinked():
            return Entry(
                "duplicate_linked", data.linked_at, {"reference": data.duplicate_of_reference}
            )
        case DuplicateUnlinked():
            return Entry("duplicate_unlinked", data.unlinked_at)
        case CaseOpened():
            return Entry("case_opened", data.opened_at, {"department": data.owner_department})
        case FirstResponseRecorded():
            return Entry("first_response", data.at)
        case CustomerWaitStarted():
            return Entry("waiting_for_customer", data.at, {"reason": data.reason})
        case CustomerWaitEnded():
            return Entry("wait_ended", data.at)
        case ResolutionProposed():
            return Entry(
                "plan_proposed",
                data.at,
                {
                    "version": data.plan_version,
                    "actions": _plan_actions(data),
                    "investigation": data.investigation,
                },
            )
        case ResolutionAccepted():
            return Entry("plan_accepted", data.at, {"version": data.plan_version})
        case ResolutionRejected():
            return Entry(
                "plan_rejected", data.at, {"version": data.plan_version, "reason": data.reason}
            )
        case ResolutionImplemented():
            return Entry("plan_implemented", data.at, {"version": data.plan_version})
        case CallbackDone():
            return Entry("callback", data.at, {"satisfied": data.satisfied})
        case RectificationInstructed() | RectificationNoticeIssued():
            return Entry("rectification_started", data.at)
        case VerificationPassed():
            return Entry("rectification_verified", data.at)
        case RectificationFeedbackRequested():
            return Entry(
                "rectification_feedback",
                data.at,
                {"summary": data.summary, "rectification_id": str(data.rectification_id)},
            )
        case ComplaintFeedbackRequested():
            return Entry("feedback_asked", data.requested_at, {"via": data.via.value})
        case FeedbackAnswerReceived():
            return Entry(
                "feedback_answer_sent",
                data.answered_at,
                {"answer": data.answer.value, "rectification_id": str(data.rectification_id)},
            )
        case ComplaintClosed(withdrawn=True):
            # The case ended because the customer withdrew: intake's own
            # complaint.withdrawn already says so; "closed" would hide it.
            return None
        case ComplaintClosed():
            return Entry("closed", data.at)
        case ComplaintReopened():
            return Entry("reopened", data.at)
        case ComplaintAmended():
            if not data.from_customer:
                return None  # staff notes stay internal
            return Entry(
                "customer_added",
                data.amended_at,
                {"via": data.kind.value, "attachments": data.attachment_count},
            )
        case ComplaintWithdrawn():
            return Entry("withdrawn", data.withdrawn_at)
        case ResolutionDecisionReceived():
            return Entry(
                "decision_sent",
                data.decided_at,
                {"decision": data.decision.value, "version": data.plan_version},
            )
    return None


# Which stage each entry puts the complaint in (entries not listed keep the stage).
_STAGE_OF = {
    "triaged": "in_progress",
    "retriaged": "in_progress",
    "reassigned": "in_progress",
    "duplicate_linked": "duplicate",
    "duplicate_unlinked": "received",
    "case_opened": "in_progress",
    "first_response": "in_progress",
    "waiting_for_customer": "waiting_for_customer",
    "wait_ended": "in_progress",
    "plan_proposed": "plan_proposed",
    "plan_accepted": "plan_accepted",
    "plan_rejected": "plan_revising",
    "plan_implemented": "plan_implemented",
    "closed": "closed",
    "reopened": "in_progress",
    "withdrawn": "withdrawn",
}


def advance(state: TrackingState, entry: Entry) -> TrackingState:
    """The state after ``entry``; events from two topics may arrive out of time order,
    so the stage only moves for an entry no older than the one that set it."""
    changes: dict[str, Any] = {}
    stage = _STAGE_OF.get(entry.kind)
    if stage is not None and (state.stage_at is None or entry.at >= state.stage_at):
        changes.update(stage=stage, stage_at=entry.at)
    if entry.kind in ("triaged", "retriaged", "reassigned", "case_opened"):
        changes["owner_department"] = entry.details.get("department")
        if "category" in entry.details:
            changes["category"] = entry.details["category"]
    if entry.kind == "plan_proposed":
        pending = state.pending_plan
        if pending is None or entry.details["version"] >= pending["version"]:
            changes.update(pending_plan=dict(entry.details), decision_sent=None)
    elif entry.kind in ("plan_accepted", "plan_rejected"):
        pending = state.pending_plan
        if pending is not None and pending["version"] <= entry.details["version"]:
            changes.update(pending_plan=None, decision_sent=None)
    elif entry.kind in ("closed", "withdrawn"):
        changes.update(pending_plan=None, decision_sent=None)
    elif entry.kind == "decision_sent":
        pending = state.pending_plan
        if pending is not None and pending["version"] == entry.details["version"]:
            changes["decision_sent"] = entry.details["decision"]
    return replace(state, **changes) if changes else state


# --- plain words -------------------------------------------------------------

DEPARTMENTS = {
    "csc": ("客户服务中心", "the Customer Service Centre"),
    "quality": ("质量部", "the Quality department"),
    "supply": ("供应部", "the Supply department"),
    "sales": ("销售部", "the Sales department"),
    "logistics": ("物流部", "the Logistics department"),
    "technical": ("技术部", "the Technical department"),
    "production": ("生产部", "the Production department"),
    "design": ("设计部", "the Design department"),
    "after_sales": ("售后服务部", "the After-sales Service department"),
}
CATEGORIES = {
    "product_quality": ("产品质量问题", "a product quality problem"),
    "service_quality": ("服务质量问题", "a service quality problem"),
    "delivery": ("交付问题", "a delivery problem"),
    "commercial": ("商务问题（价格、合同）", "a commercial matter (price, contract)"),
    "other": ("其他问题", "another kind of problem"),
}
URGENCIES = {
    "urgent": ("紧急", "urgent"),
    "important": ("重要", "important"),
    "general": ("一般", "normal"),
}
ACTIONS = {
    "repair": ("维修", "Repair"),
    "replace": ("更换", "Replacement"),
    "redeliver": ("重新交付", "Re-delivery"),
    "explanation": ("说明", "Explanation"),
    "compensation": ("赔偿", "Compensation"),
    "refund": ("退款", "Refund"),
}
STAGES = {
    "received": ("已收到，等待分派", "Received, waiting to be assigned"),
    "in_progress": ("处理中", "Being handled"),
    "duplicate": ("已并入您之前的投诉", "Merged into your earlier complaint"),
    "waiting_for_customer": ("等待您补充信息", "Waiting for information from you"),
    "plan_proposed": ("解决方案待您确认", "A solution is waiting for your answer"),
    "plan_accepted": ("方案已确认，正在实施", "Solution accepted, being carried out"),
    "plan_revising": ("方案修订中", "The solution is being revised"),
    "plan_implemented": ("方案已实施，等待回访", "Solution carried out, follow-up call next"),
    "closed": ("已关闭", "Closed"),
    "withdrawn": ("已撤回", "Withdrawn"),
}


def _pick(table: dict[str, tuple[str, str]], code: str | None, lang: str) -> str:
    if code is None:
        return ""
    words = table.get(code)
    if words is None:
        return code
    return words[0] if lang == "zh" else words[1]


def department_name(code: str | None, lang: str) -> str:
    return _pick(DEPARTMENTS, code, lang)


def action_name(code: str, lang: str) -> str:
    return _pick(ACTIONS, code, lang)


def stage_label(stage: str, lang: str) -> str:
    return _pick(STAGES, stage, lang)


def describe(entry: Entry, lang: str) -> str:
    """One sentence for the timeline, in the customer's language."""
    d = entry.details
    zh = lang == "zh"
    department = department_name(d.get("department"), lang)
    match entry.kind:
        case "received":
            return "我们收到了您的投诉。" if zh else "We received your complaint."
        case "triaged" | "retriaged":
            category = _pick(CATEGORIES, d.get("category"), lang)
            urgency = _pick(URGENCIES, d.get("urgency"), lang)
            if zh:
                again = "重新" if entry.kind == "retriaged" else ""
                return f"已{again}分类为{category}（{urgency}），由{department}负责处理。"
            verb = "re-assessed" if entry.kind == "retriaged" else "assessed"
            return f"We {verb} it as {category} ({urgency}); {department} is handling it."
        case "reassigned":
            return f"已转交{department}处理。" if zh else f"It was passed on to {department}."
        case "duplicate_linked":
            ref = d.get("reference", "")
            return (
                f"这与您之前的投诉 {ref} 是同一问题，我们将一并处理。"
                if zh
                else f"This is the same problem as your earlier complaint {ref}; "
                "we handle them together."
            )
        case "duplicate_unlinked":
            return (
                "我们将其作为一个新问题单独处理。" if zh else "We handle it as a separate problem."
            )
        case "case_opened":
            if zh:
                return f"{department}已立案处理。"
            return f"{department[:1].upper()}{department[1:]} opened a case for it."
        case "first_response":
            return "我们的工作人员已与您联系。" if zh else "Our staff contacted you."
        case "waiting_for_customer":
            reason = d.get("reason") or ""
            return (
                f"我们需要您补充信息：{reason}"
                if zh
                else f"We need more information from you: {reason}"
            )
        case "wait_ended":
            return "已收到您补充的信息。" if zh else "We have the information we needed."
        case "plan_proposed":
            names = [action_name(a["kind"], lang) for a in d.get("actions", [])]
            actions = ("、" if zh else ", ").join(names)
            return (
                f"我们提出了解决方案（第 {d.get('version')} 版）：{actions}。"
                if zh
                else f"We proposed a solution (version {d.get('version')}): {actions}."
            )
        case "plan_accepted":
            return "您已接受解决方案。" if zh else "You accepted the solution."
        case "plan_rejected":
            return (
                "您未接受解决方案，我们正在修订。"
                if zh
                else "You did not accept the solution; we are revising it."
            )
        case "decision_sent":
            accepted = d.get("decision") == "accept"
            if zh:
                return "您的答复（接受）已送达。" if accepted else "您的答复（不接受）已送达。"
            return f"Your answer ({'accept' if accepted else 'reject'}) was sent."
        case "plan_implemented":
            return (
                "解决方案已实施完毕，我们将回访您。"
                if zh
                else "The solution has been carried out; we will call you to check."
            )
        case "callback":
            return "我们已回访您。" if zh else "We called you back to ask how it went."
        case "rectification_started":
            return (
                "我们已启动内部整改，防止问题再次发生。"
                if zh
                else "We started an internal corrective action so it does not happen again."
            )
        case "rectification_verified":
            return (
                "内部整改的效果已验证。"
                if zh
                else "The internal corrective action was checked and works."
            )
        case "rectification_feedback":
            summary = d.get("summary") or ""
            return f"内部整改情况：{summary}" if zh else f"About our corrective action: {summary}"
        case "feedback_asked":
            return (
                "您要求了解内部整改措施及结果，整改验证后我们会反馈给您。"
                if zh
                else "You asked to be told what we change internally and the result; "
                "we will tell you once it is verified."
            )
        case "feedback_answer_sent":
            confirmed = d.get("answer") == "confirmed"
            if zh:
                return "您已确认整改反馈。" if confirmed else "您对整改反馈提出了异议。"
            return (
                "You confirmed the feedback on our corrective action."
                if confirmed
                else "You disputed the feedback on our corrective action."
            )
        case "customer_added":
            return "您补充了信息。" if zh else "You added information."
        case "closed":
            return "投诉已关闭。" if zh else "The complaint was closed."
        case "reopened":
            return "投诉已重新打开。" if zh else "The complaint was reopened."
        case "withdrawn":
            return "投诉已撤回。" if zh else "The complaint was withdrawn."
    return entry.kind
