"""The shape every service answers a paged list with."""

from __future__ import annotations

import re
from typing import Generic, TypeVar

from pydantic import BaseModel, BeforeValidator

T = TypeVar("T")

#: Deepest page a list serves: past this an offset is a 422, never a number the
#: database cannot bind (SQLite's and PostgreSQL's OFFSET are 64-bit).
MAX_OFFSET = 1_000_000

_DIGITS = re.compile(r"-?[0-9]+")


def _whole_number(value: object) -> object:
    """A query value for an integer parameter is digits only, as the document's
    ``type: integer`` says: pydantic alone would also take ``+0.0``, ``1.0``,
    `` 5`` and ``5_000`` (make fuzz: a schema-violating request accepted)."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in digits")
    return value


#: Put last in an integer query parameter's ``Annotated[int, Query(...), WHOLE_NUMBER]``.
WHOLE_NUMBER = BeforeValidator(_whole_number)


class Page(BaseModel, Generic[T]):
    """One page of a longer list: ``total`` counts every match, not just ``items``."""

    items: list[T]
    total: int
    limit: int
    offset: int
