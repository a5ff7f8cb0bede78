"""SQL for templates and their deployments."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.templates.models import Template, TemplateDeployment


async def get(session: AsyncSession, template_id: int) -> Template | None:
    return await session.get(Template, template_id)


async def by_slug(session: AsyncSession, slug: str) -> Template | None:
    result = await session.execute(select(Template).where(Template.slug == slug))
    return result.scalar_one_or_none()


async def slugs_like(session: AsyncSession, prefix: str) -> set[str]:
    result = await session.execute(select(Template.slug).where(Template.slug.like(f"{prefix}%")))
    return set(result.scalars())


async def search(session: AsyncSession, *, q: str | None, category: str | None) -> list[Template]:
    query = select(Template).order_by(Template.name, Template.id)
    if category:
        query = query.where(Template.category == category)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            or_(
                func.lower(Template.name).like(like),
                func.lower(Template.description).like(like),
                func.lower(Template.slug).like(like),
            )
        )
    return list((await session.execute(query)).scalars())


async def categories(session: AsyncSession) -> list[tuple[str, int]]:
    result = await session.execute(
        select(Template.category, func.count())
        .group_by(Template.category)
        .order_by(Template.category)
    )
    return [(name, count) for name, count in result.all()]


async def deployment_of(session: AsyncSession, service_id: int) -> TemplateDeployment | None:
    result = await session.execute(
        select(TemplateDeployment).where(TemplateDeployment.service_id == service_id)
    )
    return result.scalar_one_or_none()
