"""The `instance` table: one row naming this installation."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.db import Base


class Instance(Base):
    """Several Dockyard installations may share one Docker engine; this id tells them apart."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32))
