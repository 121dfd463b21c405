"""Two body limits: uploads (multipart) may be large, everything else stays small.

The shared :class:`BodyLimitMiddleware` enforces ``http_max_body_bytes`` on every
request; intake raises that for faxes, scans and attachments and puts this in
front of it, so a JSON or url-encoded body is still refused (413) past
``http_max_json_bytes`` — a megabyte of JSON is already far more than any
complaint needs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tousu_common.web import BodyLimitMiddleware


class SmallBodiesUnlessUpload:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.limited = BodyLimitMiddleware(app, max_bytes=max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            content_type = dict(scope.get("headers") or ()).get(b"content-type", b"")
            if not content_type.lower().startswith(b"multipart/form-data"):
                await self.limited(scope, receive, send)
                return
        await self.app(scope, receive, send)
