"""What people call the services' codes, in both languages: departments, urgencies,
statuses, channels. One vocabulary for every screen (``{{ label(t, "urgency", code) }}``);
a code not listed here is shown as it is.
"""

from __future__ import annotations

from typing import Any

DEPARTMENTS: dict[str, tuple[str, str]] = {
    "csc": ("客服中心", "Customer Service Centre"),
    "quality": ("质量部", "Quality"),
    "supply": ("供应部", "Supply"),
    "sales": ("销售部", "Sales"),
    "logistics": ("物流部", "Logistics"),
    "technical": ("技术部", "Technical"),
    "production": ("生产部", "Production"),
    "design": ("设计部", "Design"),
    "after_sales": ("售后服务部", "After-sales"),
}
#: Who a rectification instruction can go to (rectification's RECIPIENT_DEPARTMENTS).
RECIPIENTS = tuple(d for d in DEPARTMENTS if d != "csc")

CATEGORIES: dict[str, tuple[str, str]] = {
    "product_quality": ("产品质量", "Product quality"),
    "service_quality": ("服务质量", "Service quality"),
    "delivery": ("交付", "Delivery"),
    "commercial": ("商务", "Commercial"),
    "other": ("其他", "Other"),
}
URGENCIES: dict[str, tuple[str, str]] = {
    "urgent": ("紧急", "Urgent"),
    "important": ("重要", "Important"),
    "general": ("一般", "General"),
}
ROUTING_STATUSES: dict[str, tuple[str, str]] = {
    "awaiting_transcription": ("待转录", "Awaiting transcription"),
    "manual_triage": ("待人工分派", "Waiting for manual triage"),
    "triaged": ("已分派", "Triaged"),
    "duplicate": ("重复投诉", "Duplicate"),
}
CLOCKS: dict[str, tuple[str, str]] = {
    "first_response": ("首次响应", "First response"),
    "resolution_plan": ("解决方案", "Resolution plan"),
}
CASE_STATUSES: dict[str, tuple[str, str]] = {
    "awaiting_resolution": ("调查中，待提方案", "Investigating, plan due"),
    "resolution_proposed": ("方案已提出，待客户答复", "Plan proposed, awaiting the customer"),
    "resolution_rejected": ("客户拒绝，需修订方案", "Rejected, a revised plan is needed"),
    "resolution_accepted": ("客户接受，执行中", "Accepted, being carried out"),
    "resolution_implemented": ("已执行，待回访", "Implemented, callback due"),
    "satisfied": ("客户满意，整改未完", "Customer satisfied, rectifications open"),
    "closed": ("已关闭", "Closed"),
    "withdrawn": ("已撤销", "Withdrawn"),
}
ACTION_KINDS: dict[str, tuple[str, str]] = {
    "repair": ("维修", "Repair"),
    "replace": ("更换", "Replace"),
    "redeliver": ("重新交付", "Redeliver"),
    "explanation": ("解释说明", "Explanation"),
    "compensation": ("赔偿", "Compensation"),
    "refund": ("退款", "Refund"),
}
CHANNELS: dict[str, tuple[str, str]] = {
    "hotline": ("热线", "Hotline"),
    "email": ("邮件", "Email"),
    "web": ("网站", "Web"),
    "fax": ("传真", "Fax"),
    "letter": ("信函", "Letter"),
    "visit": ("来访", "Visit"),
    "key_account": ("大客户经理", "Key-account manager"),
}
CONDITIONS: dict[str, tuple[str, str]] = {
    "resolution": ("客户尚未接受解决方案", "The customer has not accepted a plan"),
    "implementation": ("解决方案尚未执行完毕", "The plan is not carried out"),
    "callback": ("尚未回访确认客户满意", "No callback has confirmed satisfaction"),
    "rectifications": ("整改尚未验证或豁免", "Rectifications not verified or waived"),
    "status": ("案件已结束", "The case has ended"),
}
RECTIFICATION_STATUSES: dict[str, tuple[str, str]] = {
    "in_progress": ("整改中", "In progress"),
    "awaiting_dispatch": ("待发出", "Awaiting dispatch"),
    "awaiting_supplier": ("待供应商答复", "Awaiting the supplier"),
    "awaiting_verification": ("待验证", "Awaiting verification"),
    "verified": ("已验证", "Verified"),
    "waived": ("已豁免", "Waived"),
    "issued": ("已发出", "Issued"),
}

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "department": DEPARTMENTS,
    "category": CATEGORIES,
    "urgency": URGENCIES,
    "routing_status": ROUTING_STATUSES,
    "clock": CLOCKS,
    "case_status": CASE_STATUSES,
    "action_kind": ACTION_KINDS,
    "channel": CHANNELS,
    "condition": CONDITIONS,
    "rectification_status": RECTIFICATION_STATUSES,
}


def label(t: Any, kind: str, code: str | None) -> str:
    """``{{ label(t, "urgency", row.urgency) }}``: the code's name, or the code itself."""
    if code is None:
        return ""
    names = LABELS[kind].get(str(code))
    return t(*names) if names else str(code)
