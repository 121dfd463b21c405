"""OpenAPI links: where the ids routing's operations take come from."""

from tousu_common.openapi import Link

_RULE = {"rule_id": "$response.body#/document/rules/0/id"}
_QUEUE = {"complaint_id": "$response.body#/items/0/complaint_id"}

LINKS = (
    *(
        Link(source, status, _RULE)
        for source, status in (
            ("GET /v1/rules", "200"),
            ("PUT /v1/rules", "201"),
            ("POST /v1/rules", "201"),
        )
    ),
    Link("GET /v1/rules/versions", "200", {"version": "$response.body#/items/0/version"}),
    Link("GET /v1/calendar/versions", "200", {"version": "$response.body#/items/0/version"}),
    *(
        Link(f"GET /v1/worklists/{name}", "200", _QUEUE)
        for name in ("triage-queue", "department", "overdue")
    ),
)
