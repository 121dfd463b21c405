"""OpenAPI links: where the ids notify's operations take come from."""

from tousu_common.openapi import Link

LINKS = (
    Link("POST /v1/subscriptions", "201", {"subscription_id": "$response.body#/id"}),
    Link("GET /v1/subscriptions", "200", {"subscription_id": "$response.body#/0/id"}),
    Link("GET /v1/notifications", "200", {"notification_id": "$response.body#/0/id"}),
)
