"""The `updates.check` job: check every service's images against their registries."""

from __future__ import annotations

from typing import Any

from dockyard.jobs.runner import JobContext, job_handler
from dockyard.registries.service import check_all_services

CHECK_ALL_KIND = "updates.check"
CHECK_ALL_LOCK = "updates:check"


@job_handler(CHECK_ALL_KIND)
async def check_all(ctx: JobContext) -> dict[str, Any]:
    """HEAD each image's manifest (never pulls) and store the results."""
    node_id = ctx.params.get("node_id")
    await ctx.progress("Checking every service's images for updates")
    summary = await check_all_services(ctx.runtime, node_id=node_id, progress=ctx.progress)
    await ctx.progress(
        f"Checked {summary['images']} images of {summary['services']} services: "
        f"{len(summary['updates_available'])} with updates, {summary['errors']} errors"
    )
    return summary
