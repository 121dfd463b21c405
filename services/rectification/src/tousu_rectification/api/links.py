"""OpenAPI links: where the ids rectification's operations take come from."""

from tousu_common.openapi import Link

_RECTIFICATION = {"rectification_id": "$response.body#/rectification_id"}

LINKS = (
    Link("GET /v1/cases", "200", {"complaint_id": "$response.body#/items/0/complaint_id"}),
    Link("GET /v1/worklist", "200", {"complaint_id": "$response.body#/items/0/complaint_id"}),
    Link("POST /v1/cases/{complaint_id}/instructions", "201", _RECTIFICATION),
    Link("POST /v1/quality-reports/{report_id}/notices", "201", _RECTIFICATION),
    Link(
        "POST /v1/cases/{complaint_id}/quality-reports",
        "201",
        {"report_id": "$response.body#/report_id"},
    ),
    Link("POST /v1/suppliers", "201", {"supplier_id": "$response.body#/supplier_id"}),
    Link("GET /v1/suppliers", "200", {"supplier_id": "$response.body#/items/0/supplier_id"}),
)
