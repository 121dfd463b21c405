"""OpenAPI links: where the ids intake's operations take come from."""

from tousu_common.openapi import Link

_COMPLAINT = {"complaint_id": "$response.body#/id"}

LINKS = (
    *(
        Link(f"POST /v1/{path}", "201", _COMPLAINT)
        for path in (
            "complaints",
            "channels/key-account",
            "channels/fax",
            "channels/letter",
            "channels/visit",
        )
    ),
    Link("GET /v1/complaints", "200", {"complaint_id": "$response.body#/items/0/id"}),
    Link(
        "GET /v1/complaints/{complaint_id}",
        "200",
        {
            "complaint_id": "$request.path.complaint_id",
            "attachment_id": "$response.body#/attachments/0/id",
        },
    ),
    Link("GET /v1/transcriptions", "200", {"complaint_id": "$response.body#/items/0/id"}),
    Link("POST /v1/customers", "201", {"customer_id": "$response.body#/id"}),
    Link("GET /v1/customers", "200", {"customer_id": "$response.body#/items/0/id"}),
    Link("GET /v1/inbound-mail", "200", {"mail_id": "$response.body#/items/0/id"}),
)
