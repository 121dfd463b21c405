"""Headless Chromium (Debian's package, driven by Playwright): HTML → PDF.

Complaint documents (the External Quality Information Report, rectification
notices, digests) are HTML first; people sign and file the PDF. Chromium prints
the same HTML the browser shows, CJK included (fonts-wqy-zenhei). Playwright
never downloads a browser here: the executable comes from settings/env.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_executable() -> str:
    """``TOUSU_CHROMIUM`` or the first chromium on PATH; a clear error otherwise."""
    path = os.environ.get("TOUSU_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError("Chromium not found: apt-get install chromium (or set TOUSU_CHROMIUM)")
    return path


def launch_options() -> dict[str, Any]:
    return {"executable_path": chromium_executable(), "headless": True, "args": CHROMIUM_ARGS}


async def html_to_pdf(html: str, *, landscape: bool = False) -> bytes:
    """Render ``html`` (self-contained: inline CSS/SVG, no network) to an A4 PDF."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_options())
        try:
            page = await browser.new_page()
            await page.set_content(html, wait_until="load")
            return await page.pdf(
                format="A4",
                landscape=landscape,
                print_background=True,
                margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"},
            )
        finally:
            await browser.close()
