"""The start page: what this person has to do, by role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tousu_console.api.deps import CurrentViewer, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return render(request, "home.html")
