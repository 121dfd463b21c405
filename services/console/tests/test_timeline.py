"""The complaint's one timeline: each service's history normalised to one entry
shape and merged, oldest first — pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tousu_console.domain import timeline

COMPLAINT = {
    "reference": "TS-2027-000042",
    "channel": "hotline",
    "title": "发动机漏油",
    "received_at": "2027-03-01T02:00:00Z",
    "received_by": "agent",
    "amendments": [
        {"kind": "call", "text": "客户又来电", "by": "agent", "amended_at": "2027-03-01T05:00:00Z"},
        {"kind": "note", "text": "备注", "by": "csc", "amended_at": "2027-03-01T03:00:00+00:00"},
    ],
}
ROUTING_HISTORY = [
    {
        "kind": "rules",
        "category": "product_quality",
        "urgency": "high",
        "owner_department": "technical",
        "rule_id": "r-7",
        "decided_by": "rules",
        "reason": None,
        "recorded_at": "2027-03-01T02:00:01Z",
    },
    {
        "kind": "reassignment",
        "category": "product_quality",
        "urgency": "high",
        "owner_department": "production",
        "decided_by": "csc",
        "reason": "wrong department",
        "recorded_at": "2027-03-01T04:00:00Z",
    },
]
TRIAGE = {
    "duplicate_of": None,
    "triaged_at": "2027-03-01T02:00:01Z",
    "clocks": [
        {
            "clock": "first_response",
            "warning_sent_at": "2027-03-02T01:00:00Z",
            "breached_at": "2027-03-02T02:00:00Z",
        },
        {"clock": "resolution_plan", "warning_sent_at": None, "breached_at": None},
    ],
}
CASE = {
    "history": [
        {
            "action": "case.opened",
            "status": "awaiting_resolution",
            "from_status": None,
            "at": "2027-03-01T02:00:02Z",
            "by": "system",
            "detail": None,
        },
        {
            "action": "resolution.proposed",
            "status": "resolution_proposed",
            "from_status": "awaiting_resolution",
            "at": "2027-03-03T00:00:00Z",
            "by": "csc",
            "detail": "plan 1: 2 action(s)",
        },
    ]
}
RECT = {
    "number": "SI-2027-0001",
    "history": [
        {"action": "instruct", "at": "2027-03-02T03:00:00Z", "by": "csc", "note": ""},
        {"action": "mark_done", "at": "2027-03-04T00:00:00Z", "by": "tech1", "note": "fixed"},
    ],
}
NOTIFICATIONS = [
    {
        "channel": "sms",
        "template": "acknowledgement",
        "recipient_kind": "customer",
        "status": "sent",
        "created_at": "2027-03-01T02:00:03Z",
        "sent_at": "2027-03-01T02:00:04Z",
    },
    {
        "channel": "email",
        "template": "assigned",
        "recipient_kind": "department",
        "status": "failed",
        "created_at": "2027-03-01T02:00:05Z",
        "sent_at": None,
        "last_error": "mailbox full",
    },
]


def _all() -> list[timeline.Entry]:
    return timeline.merge(
        timeline.from_notifications(NOTIFICATIONS),
        timeline.from_rectification(RECT),
        timeline.from_case(CASE),
        timeline.from_routing(ROUTING_HISTORY, TRIAGE),
        timeline.from_intake(COMPLAINT),
    )


def test_every_source_lands_in_one_list_oldest_first_whatever_order_they_come_in() -> None:
    entries = _all()
    instants = [e.at for e in entries]
    assert instants == sorted(instants)
    assert [e.kind for e in entries] == [
        "intake.received",
        "routing.rules",
        "case.case.opened",
        "notify.sent",
        "notify.failed",
        "intake.amended",
        "routing.reassignment",
        "intake.amended",
        "routing.sla_warning",
        "routing.sla_breach",
        "rectification.instruct",
        "case.resolution.proposed",
        "rectification.mark_done",
    ]
    assert {e.source for e in entries} == set(timeline.SOURCES)


def test_one_entry_shape_who_what_when_in_both_languages() -> None:
    entries = {e.kind: e for e in _all()}
    received = entries["intake.received"]
    assert received.who == "agent" and received.detail == "发动机漏油"
    assert received.at == datetime(2027, 3, 1, 2, tzinfo=UTC)
    assert "hotline" in received.zh and received.en.startswith("Complaint received")
    moved = entries["routing.reassignment"]
    assert moved.en == "Reassigned to production" and moved.detail == "wrong department"
    assert moved.who == "csc"
    proposed = entries["case.resolution.proposed"]
    assert proposed.en == "Resolution proposed (→ resolution_proposed)"
    assert proposed.detail == "plan 1: 2 action(s)"
    done = entries["rectification.mark_done"]
    assert done.zh.startswith("SI-2027-0001") and done.who == "tech1" and done.detail == "fixed"
    failed = entries["notify.failed"]
    assert failed.detail == "mailbox full" and failed.at == datetime(
        2027, 3, 1, 2, 0, 5, tzinfo=UTC
    )
    assert entries["notify.sent"].detail is None


def test_the_same_instant_follows_the_pipeline_then_each_sources_own_order() -> None:
    same = "2027-05-05T05:05:05Z"
    entries = timeline.merge(
        timeline.from_notifications([{**NOTIFICATIONS[0], "sent_at": same}]),
        timeline.from_case({"history": [{**CASE["history"][0], "at": same}]}),
        timeline.from_intake(
            {
                "received_at": same,
                "channel": "web",
                "amendments": [
                    {"kind": "web", "text": "a", "by": "customer", "amended_at": same},
                    {"kind": "note", "text": "b", "by": "csc", "amended_at": same},
                ],
            }
        ),
    )
    assert [e.source for e in entries] == ["intake", "intake", "intake", "rectification", "notify"]
    assert [e.detail for e in entries[1:3]] == ["a", "b"]


def test_offsets_and_naive_instants_compare_as_the_same_clock() -> None:
    shanghai = timezone(timedelta(hours=8))
    entries = timeline.merge(
        timeline.from_intake({"received_at": "2027-01-01T09:00:00+08:00", "amendments": []}),
        timeline.from_case(
            {"history": [{"action": "case.opened", "at": "2027-01-01T00:30:00", "by": "x"}]}
        ),
    )
    # 09:00 in Shanghai is 01:00 UTC: after the naive (UTC) 00:30
    assert [e.source for e in entries] == ["rectification", "intake"]
    assert entries[1].at == datetime(2027, 1, 1, 9, tzinfo=shanghai)


def test_a_missing_source_or_an_undated_line_is_left_out_not_an_error() -> None:
    assert timeline.from_intake({}) == []
    assert timeline.from_routing([], None) == []
    assert timeline.from_case({"history": [{"action": "x", "at": None}]}) == []
    assert timeline.from_notifications([{"status": "pending"}]) == []
    merged = timeline.merge(timeline.from_intake(COMPLAINT), [], timeline.from_case({}))
    assert [e.source for e in merged] == ["intake"] * 3


def test_a_withdrawal_and_a_duplicate_link_are_entries_when_the_services_say_when() -> None:
    withdrawn = timeline.from_intake(
        {**COMPLAINT, "withdrawn_at": "2027-03-05T00:00:00Z", "withdrawn_by": "agent"}
    )
    assert withdrawn[-1].kind == "intake.withdrawn" and withdrawn[-1].who == "agent"
    linked = timeline.from_routing([], {**TRIAGE, "clocks": [], "duplicate_of": "abc"})
    assert [e.kind for e in linked] == ["routing.duplicate"] and linked[0].detail == "abc"


def test_long_text_is_cut_to_one_line() -> None:
    entry = timeline.from_intake({**COMPLAINT, "title": "长" * 500 + "\n\n尾", "amendments": []})[0]
    assert entry.detail is not None and len(entry.detail) == 300 and entry.detail.endswith("…")


def test_a_quality_report_is_an_entry_of_rectification() -> None:
    (entry,) = timeline.from_quality_reports(
        [
            {
                "number": "QR-2027-0003",
                "issued_at": "2027-03-02T00:00:00Z",
                "issued_by": "csc",
                "failure_description": "压缩机漏油",
            }
        ]
    )
    assert entry.source == "rectification" and entry.kind == "rectification.quality_report"
    assert entry.en == "External quality information report QR-2027-0003 issued"
    assert entry.who == "csc" and entry.detail == "压缩机漏油"
