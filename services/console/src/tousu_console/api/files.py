"""Files from the services (attachments, evidence, report and notice PDFs, digests),
passed to the browser as they arrive, fetched with the person's token."""

from __future__ import annotations

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from tousu_console.api.deps import Viewer

#: The service's headers a download keeps (its name, type and caching rules).
KEPT_HEADERS = ("content-type", "content-disposition", "x-content-type-options", "cache-control")

#: How long a download may take to start. The services print their documents with
#: Chromium when asked (seconds, more on a busy machine); a person would rather wait
#: than be told the service is not reachable. Plain API calls keep ``api_timeout_s``.
DOWNLOAD_TIMEOUT_S = 60.0


async def download(
    viewer: Viewer,
    service: str,
    path: str,
    *,
    filename: str | None = None,
    keep: tuple[str, ...] = KEPT_HEADERS,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> StreamingResponse:
    """The service's file, streamed; a refusal becomes ``ApiError`` (a message page).
    ``filename`` names it when the service does not (``Content-Disposition``)."""
    upstream = await viewer.api.open_stream(viewer.token, service, path, timeout=timeout)
    headers = {name: upstream.headers[name] for name in keep if name in upstream.headers}
    headers.setdefault("cache-control", "private, no-store")
    headers.setdefault("x-content-type-options", "nosniff")
    if filename and "content-disposition" not in headers:
        headers["content-disposition"] = f'inline; filename="{filename}"'
    return StreamingResponse(
        upstream.aiter_bytes(),
        media_type=headers.pop("content-type", "application/octet-stream"),
        headers=headers,
        background=BackgroundTask(upstream.aclose),
    )
