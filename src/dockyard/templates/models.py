"""`templates` (parameterised service definitions) and `template_deployments` (origins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Template(Base):
    """A service definition with `${VAR}` placeholders and the variables that fill them."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="other", index=True)
    # An http(s) URL or a lucide icon name.
    icon: Mapped[str | None] = mapped_column(String(2048))
    documentation: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(64), default="1")
    # Where it came from: dockyard, portainer, pterodactyl, compose.
    source_format: Mapped[str] = mapped_column(String(16), default="dockyard")
    # [{name, label, description, type, default, required, pattern, options}]
    variables: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Compose YAML with `${VAR}` placeholders.
    compose: Mapped[str] = mapped_column(Text)
    # Shipped in the starter catalog (updated on start when the package's version changes).
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TemplateDeployment(Base):
    """A service created from a template: which template, which version, with what values."""

    __tablename__ = "template_deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), unique=True
    )
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("templates.id", ondelete="SET NULL"), index=True
    )
    template_slug: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(64))
    # The values given, secret variables left out.
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The definition rendered at deploy time with secrets masked (the base of update diffs).
    rendered: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
