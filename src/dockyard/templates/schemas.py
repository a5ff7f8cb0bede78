"""Template API shapes. Variables and templates are validated here and in variables.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dockyard.services.schemas import check_service_name

VariableType = Literal["string", "number", "bool", "select", "secret"]
ImportFormat = Literal["portainer", "pterodactyl", "compose", "dockyard"]
SourceFormat = Literal["dockyard", "portainer", "pterodactyl", "compose"]
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_PATTERN_CHARS = 500
MAX_VALUE_CHARS = 4096
MAX_TEMPLATE_CHARS = 512 * 1024


class SelectOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(max_length=200)
    value: str = Field(max_length=MAX_VALUE_CHARS)


class TemplateVariable(BaseModel):
    """One form field of the deploy dialog and the `${NAME}` it fills."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The `${NAME}` placeholder in the compose definition.")
    label: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    type: VariableType = "string"
    default: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    required: bool = False
    pattern: str | None = Field(
        default=None,
        max_length=MAX_PATTERN_CHARS,
        description="A regular expression the whole value must match.",
    )
    options: list[SelectOption] = Field(default_factory=list, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not VARIABLE_NAME.match(value):
            raise ValueError("must be letters, digits or '_', not starting with a digit")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value or None

    @field_validator("default", mode="before")
    @classmethod
    def _default_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value


class TemplateIn(BaseModel):
    """A template in Dockyard's format (the body of create/update, the export document)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(default=None, description="Derived from the name when left out.")
    description: str = Field(default="", max_length=5000)
    category: str = Field(default="other", min_length=1, max_length=64)
    icon: str | None = Field(
        default=None, max_length=2048, description="An http(s) URL or a lucide icon name."
    )
    documentation: str = Field(default="", max_length=200_000, description="Markdown.")
    version: str = Field(default="1", min_length=1, max_length=64)
    variables: list[TemplateVariable] = Field(default_factory=list, max_length=200)
    compose: str = Field(
        min_length=1,
        max_length=MAX_TEMPLATE_CHARS,
        description="Compose YAML with `${VAR}` placeholders.",
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not SLUG.match(value):
            raise ValueError("must be 1-63 lower-case letters, digits or '-'")
        return value

    @field_validator("icon")
    @classmethod
    def _icon(cls, value: str | None) -> str | None:
        if value and not (
            value.startswith(("https://", "http://")) or re.match(r"^[a-z0-9-]{1,64}$", value)
        ):
            raise ValueError("must be an http(s) URL or a lucide icon name like `database`")
        return value or None


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    description: str
    category: str
    icon: str | None
    documentation: str
    version: str
    source_format: str
    variables: list[TemplateVariable]
    compose: str
    builtin: bool
    created_at: datetime
    updated_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateOut]
    total: int


class TemplateCategory(BaseModel):
    name: str
    count: int


class TemplateCategoryList(BaseModel):
    items: list[TemplateCategory]


class TemplateImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ImportFormat
    content: str = Field(min_length=1, max_length=4 * 1024 * 1024)


class TemplateImportSkipped(BaseModel):
    path: str
    title: str
    reason: str


class TemplateImportResult(BaseModel):
    items: list[TemplateOut]
    skipped: list[TemplateImportSkipped] = Field(
        default_factory=list,
        description="Entries that cannot become templates (e.g. Portainer stacks in a git "
        "repository, which cannot be fetched); everything else was imported.",
    )


class TemplateDeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    node_id: int | None = None
    variables: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    _name = field_validator("name")(check_service_name)


class TemplateUpdateOffer(BaseModel):
    service_id: int
    from_template: bool = Field(description="False for a service not created from a template.")
    template_id: int | None
    template_slug: str | None
    current_version: str | None
    latest_version: str | None
    update_available: bool
    diff: str = Field(description="Unified diff of the rendered compose YAML (secrets masked).")
    changed_services: list[str]
