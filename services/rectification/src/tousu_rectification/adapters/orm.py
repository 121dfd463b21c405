"""Rectification's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import BigIntPK, UTCDateTime, make_base

Base = make_base()


class CaseRow(Base):
    __tablename__ = "cases"

    case_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, unique=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(40), index=True)
    owner_department: Mapped[str] = mapped_column(sa.String(50), index=True)
    category: Mapped[str] = mapped_column(sa.String(30))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(sa.Integer)


class CaseHistoryRow(Base):
    """One row per status a case entered; never updated."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[UUID] = mapped_column(sa.Uuid, sa.ForeignKey("cases.case_id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(100))


# Rectification tables (issue 5, part B) live in their own module, on this Base.
from tousu_rectification.adapters import rectification_orm as _rectification_orm  # noqa: E402, F401
