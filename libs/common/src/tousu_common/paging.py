"""The shape every service answers a paged list with."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

#: Deepest page a list serves: past this an offset is a 422, never a number the
#: database cannot bind (SQLite's and PostgreSQL's OFFSET are 64-bit).
MAX_OFFSET = 1_000_000


class Page(BaseModel, Generic[T]):
    """One page of a longer list: ``total`` counts every match, not just ``items``."""

    items: list[T]
    total: int
    limit: int
    offset: int
