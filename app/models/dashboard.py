"""The admin dashboard's figures as the last count stored them (app/services/dashboard.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class DashboardFigures(db.Model):
    """One row per chart scale (day, week, month): the figures, when they were counted, and
    when a new count was queued (once, until it is done)."""

    __tablename__ = "dashboard_figures"

    scale: Mapped[str] = mapped_column(String(8), primary_key=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    refresh_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
