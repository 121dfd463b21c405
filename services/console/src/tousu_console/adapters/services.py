"""The four services' public APIs, called with the signed-in person's token.

The console never decides whether something is allowed: it forwards the
person's bearer token and shows what the service answers. A 4xx body
(``{"error": {"code", "message", "fields"}}``) becomes :class:`ApiError`,
which pages render as a message next to the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tousu_common.tracing import trace_headers

SERVICES = ("intake", "routing", "rectification", "notify")


@dataclass
class ApiError(Exception):
    """A service said no (4xx), or could not be reached (status 503)."""

    status: int
    code: str
    message: str
    fields: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    @property
    def forbidden(self) -> bool:
        return self.status == 403


def api_error(response: httpx.Response) -> ApiError:
    """A service's 4xx/5xx answer (its body already read) as :class:`ApiError`."""
    try:
        body = response.json().get("error") or {}
    except ValueError:
        body = {}
    return ApiError(
        status=response.status_code,
        code=str(body.get("code") or "error"),
        message=str(body.get("message") or response.reason_phrase),
        fields=list(body.get("fields") or []),
    )


class ServiceApi:
    """One pooled HTTP client for all four services (``base_urls`` by service name)."""

    def __init__(self, base_urls: Mapping[str, str], *, timeout: float = 10) -> None:
        self.base_urls = {name: url.rstrip("/") for name, url in base_urls.items()}
        self.http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=50))

    async def close(self) -> None:
        await self.http.aclose()

    def url(self, service: str, path: str) -> str:
        return f"{self.base_urls[service]}{path}"

    async def request(
        self,
        token: str,
        method: str,
        service: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {**(headers or {}), "Authorization": f"Bearer {token}", **trace_headers()}
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.request(
                method,
                self.url(service, path),
                params=clean,
                json=json,
                data=data,
                files=files,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            reason = f"{service} is not reachable ({type(exc).__name__})"
            raise ApiError(503, "unavailable", reason) from exc
        if response.status_code >= 400:
            raise api_error(response)
        return response

    async def get(self, token: str, service: str, path: str, **params: Any) -> Any:
        return (await self.request(token, "GET", service, path, params=params)).json()

    async def post(self, token: str, service: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = await self.request(token, "POST", service, path, json=body, **kw)
        return response.json() if response.content else None

    async def put(self, token: str, service: str, path: str, body: Any = None) -> Any:
        response = await self.request(token, "PUT", service, path, json=body)
        return response.json() if response.content else None

    async def delete(self, token: str, service: str, path: str, body: Any = None) -> Any:
        response = await self.request(token, "DELETE", service, path, json=body)
        return response.json() if response.content else None

    async def open_stream(
        self, token: str, service: str, path: str, *, timeout: float | None = None
    ) -> httpx.Response:
        """A GET whose body is read as it arrives (files, PDFs): the caller closes it.
        A refusal is read, closed and raised as :class:`ApiError`."""
        outgoing = self.http.build_request(
            "GET",
            self.url(service, path),
            headers={"Authorization": f"Bearer {token}", **trace_headers()},
            timeout=httpx.Timeout(timeout) if timeout else httpx.USE_CLIENT_DEFAULT,
        )
        try:
            upstream = await self.http.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            reason = f"{service} is not reachable ({type(exc).__name__})"
            raise ApiError(503, "unavailable", reason) from exc
        if upstream.status_code >= 400:
            try:
                await upstream.aread()
            finally:
                await upstream.aclose()
            raise api_error(upstream)
        return upstream
