/** Pure helpers of the Images pages and the cleanup dialog. */
import type { CleanupItem, CleanupTarget, ImageOut } from "@/api/images";
import { formatBytes } from "./format";

export const CLEANUP_TARGETS: { key: CleanupTarget; label: string; hint: string }[] = [
  { key: "stopped_containers", label: "Stopped containers", hint: "Not those of Dockyard services unless included below" },
  { key: "dangling_images", label: "Dangling images", hint: "Untagged images no container uses" },
  { key: "unused_images", label: "Unused images", hint: "Tagged images no container or service uses" },
  { key: "unused_volumes", label: "Unused volumes", hint: "Never one a container or a service definition uses" },
  { key: "unused_networks", label: "Unused networks", hint: "Never bridge, host or none" },
  { key: "build_cache", label: "Build cache", hint: "Unused build cache records" },
];

export function targetLabel(target: CleanupTarget): string {
  return CLEANUP_TARGETS.find((t) => t.key === target)?.label ?? target;
}

export interface TargetGroup {
  target: CleanupTarget;
  label: string;
  items: CleanupItem[];
  bytes: number;
}

/** Items grouped by target, in the dialog's order, with the bytes each group frees. */
export function groupByTarget(items: readonly CleanupItem[]): TargetGroup[] {
  return CLEANUP_TARGETS.map((t) => {
    const mine = items.filter((i) => i.target === t.key);
    return { target: t.key, label: t.label, items: mine, bytes: mine.reduce((s, i) => s + (i.size_bytes ?? 0), 0) };
  }).filter((g) => g.items.length > 0);
}

/** "3 items · 12.5 MiB reclaimable", "Nothing to remove". */
export function planSummary(count: number, bytes: number): string {
  if (count === 0) return "Nothing to remove";
  return `${count} item${count === 1 ? "" : "s"} · ${formatBytes(bytes)} reclaimable`;
}

export interface ResultCounts {
  removed: number;
  skipped: number;
  failed: number;
  reclaimed_bytes: number;
}

/** "Removed 4, skipped 1 · 3.2 MiB reclaimed". */
export function resultSummary(r: ResultCounts): string {
  const parts = [`Removed ${r.removed}`];
  if (r.skipped) parts.push(`skipped ${r.skipped}`);
  if (r.failed) parts.push(`failed ${r.failed}`);
  return `${parts.join(", ")} · ${formatBytes(r.reclaimed_bytes)} reclaimed`;
}

/** "repo:tag" for display (first tag), or "<none>" for a dangling image. */
export function imageName(image: Pick<ImageOut, "repo_tags">): string {
  return image.repo_tags[0] ?? "<none>";
}

/** The reference to remove: a tag when the image has one, else its id. */
export function imageRemoveRef(image: Pick<ImageOut, "repo_tags" | "id">): string {
  return image.repo_tags.length === 1 ? image.repo_tags[0]! : image.id;
}

/** A reference the server would accept, or why not (checked again by the server). */
export function referenceProblem(reference: string): string | null {
  const ref = reference.trim();
  if (!ref) return "Enter an image reference";
  if (/\s/.test(reference)) return "No spaces allowed";
  const name = ref.split("@")[0]!;
  const lastSlash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  const repo = colon > lastSlash ? name.slice(0, colon) : name;
  const path = repo.includes("/") && /[.:]|^localhost$/.test(repo.split("/")[0]!) ? repo.split("/").slice(1).join("/") : repo;
  if (path !== path.toLowerCase()) return "The repository name must be lowercase";
  if (colon > lastSlash && !/^[\w][\w.-]{0,127}$/.test(name.slice(colon + 1))) return "Invalid tag";
  return null;
}
