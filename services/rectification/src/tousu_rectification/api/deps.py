"""What routes take from the app the bootstrap wired: their unit of work."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import Request

from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork


def unit_of_work(request: Request) -> AbstractAsyncContextManager[CaseUnitOfWork]:
    """A write transaction on the app's database (``app.state.db``, which a test may
    have replaced), as :class:`~tousu_rectification.bootstrap.Rectification` builds it."""
    return request.app.state.rectification.unit_of_work(request.app.state.db)
