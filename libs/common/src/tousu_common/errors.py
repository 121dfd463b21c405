"""Errors a caller can cause, mapped once to 4xx JSON bodies.

Body shape, for every error: ``{"error": {"code", "message", "fields"?},
"request_id"}`` where ``fields`` lists ``{"field", "problem"}``. An unexpected
error is a 500 with the request id and a log line, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

# The error classes live apart so that domain code can raise them without
# importing FastAPI (issue 16); they are re-exported here for everyone else.
from tousu_common.domain_errors import (  # noqa: F401 (re-exported)
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TousuError,
    Unauthenticated,
)

log = logging.getLogger(__name__)


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldProblem] | None = None


class ErrorBody(BaseModel):
    """What every 4xx and 5xx answer looks like."""

    error: ErrorDetail
    request_id: str | None


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: The errors any authenticated route can answer with, for its OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The body could not be read at all (e.g. not UTF-8)"),
    401: _documented("No valid bearer token"),
    403: _documented("The token lacks the role this needs"),
    413: _documented("Request body too large"),
    422: _documented("Invalid input; `fields` names each problem"),
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: _documented("No such resource")}


def error_body(
    request: Request, code: str, message: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error, "request_id": getattr(request.state, "request_id", None)}


def _without_union_tag(location: list[str], body: Any) -> list[str]:
    """A value that is one of several schemas told apart by a field (``"channel":
    "webhook"``) has its errors at ``webhook.url``; the client's field is ``url``."""
    kept: list[str] = []
    current = body
    for part in location:
        if (
            isinstance(current, dict)
            and part not in current
            and part in {v for v in current.values() if isinstance(v, str)}
        ):
            continue  # the tag pydantic put in; the value stays where it is
        kept.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            current = None
    return kept


def _validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header"):
            location = location[1:] if location[0] == "body" else location
            if error.get("loc", ())[:1] == ("body",):
                location = _without_union_tag(location, exc.body)
        fields.append(
            {"field": ".".join(location) or "body", "problem": error.get("msg", "invalid")}
        )
    return fields


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path: FastAPI has
    one route per method, and Starlette's 405 names only the first route's."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TousuError)
    async def _tousu_error(request: Request, exc: TousuError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            error_body(request, exc.code, exc.message, exc.fields),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _validation_fields(exc)
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
        return JSONResponse(
            error_body(request, "validation_error", f"invalid request: {summary}", fields),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return JSONResponse(
            error_body(request, code, str(exc.detail)),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return JSONResponse(
            error_body(request, "internal_error", "unexpected error; quote the request_id"),
            status_code=500,
        )
