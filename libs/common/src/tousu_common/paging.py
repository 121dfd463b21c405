"""The shape every service answers a paged list with."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a longer list: ``total`` counts every match, not just ``items``."""

    items: list[T]
    total: int
    limit: int
    offset: int
