/**
 * Pure logic of the "adopt running containers" flow: the service-name rule (the server's
 * `SERVICE_NAME`), name suggestions, the `POST /services/adopt` payload, and turning the
 * server's 422/409 answers into field errors.
 */
import { isApiError } from "@/api/errors";
import type { AdoptRequest } from "@/api/types";
import { serviceNameProblem, suggestServiceName } from "./serviceName";

export { SERVICE_NAME_RE, serviceNameProblem, suggestServiceName } from "./serviceName";

/** What is being adopted: one compose project, or loose containers as one new service. */
export type AdoptTarget =
  | { kind: "project"; project: string; containers: readonly { id: string; name: string }[] }
  | { kind: "containers"; containers: readonly { id: string; name: string }[] };

/** The name the dialog starts with: the project's own name, or the first container's. */
export function initialAdoptName(target: AdoptTarget): string {
  if (target.kind === "project") return target.project;
  const first = target.containers[0]?.name ?? "";
  return suggestServiceName(first.replace(/^\//, ""));
}

export interface AdoptFields {
  nodeId: number | null;
  name: string;
  description: string;
}

/** The `POST /services/adopt` body for a target and the dialog's fields. */
export function buildAdoptRequest(target: AdoptTarget, fields: AdoptFields): AdoptRequest {
  const name = fields.name;
  const description = fields.description.trim();
  const body: AdoptRequest =
    target.kind === "project"
      ? { project: target.project, ...(name ? { name } : {}) }
      : { container_ids: [...new Set(target.containers.map((c) => c.id))], name };
  if (fields.nodeId !== null) body.node_id = fields.nodeId;
  // Left out, the server describes it itself ("Adopted compose project shop").
  if (description) body.description = description;
  return body;
}

/** Whether the dialog can be submitted (the server has the last word). */
export function adoptBlocked(target: AdoptTarget, name: string): boolean {
  if (target.containers.length === 0) return true;
  if (!name) return true;
  return serviceNameProblem(name) !== null;
}

export interface AdoptErrorView {
  /** Messages for the name field. */
  name: string[];
  /** Other located problems (`body.container_ids.0: no such container`). */
  other: string[];
  /** The listing is out of date (the project or a container is gone or taken): refresh it. */
  stale: boolean;
}

/**
 * What an adopt failure means for the dialog: 422 `details.errors[].path` (`body.name`,
 * or `name` from the create step) and 409 `service_exists` go to the name field; 404
 * `project_not_found` / `container_not_found` and 409 `already_managed` mean the list is
 * stale. Null when nothing is shown inline (the error toast explains it).
 */
export function adoptErrorView(err: unknown): AdoptErrorView | null {
  if (!isApiError(err)) return null;
  const view: AdoptErrorView = { name: [], other: [], stale: false };
  const list = err.details?.["errors"];
  if (Array.isArray(list)) {
    for (const e of list) {
      if (typeof e !== "object" || e === null) continue;
      const path = typeof (e as { path?: unknown }).path === "string" ? (e as { path: string }).path : "";
      const raw = (e as { message?: unknown }).message;
      const message = typeof raw === "string" ? raw : String(raw ?? "invalid value");
      if (path === "body.name" || path === "name") view.name.push(message);
      else if (err.status === 422) view.other.push(path ? `${path.replace(/^body\./, "")}: ${message}` : message);
    }
  }
  if (err.code === "service_exists") view.name = ["A service with this name already exists on this node."];
  if (err.code === "project_not_found" || err.code === "container_not_found" || err.code === "already_managed") {
    view.stale = true;
    view.other = [];
  }
  if (view.name.length === 0 && view.other.length === 0 && !view.stale) return null;
  return view;
}

/** Whether an adopt failure is fully explained inline (so no error toast is needed). */
export function adoptErrorInline(err: unknown): boolean {
  const view = adoptErrorView(err);
  return !!view && !view.stale && (view.name.length > 0 || view.other.length > 0);
}

export type StateTone = "success" | "warning" | "danger" | "neutral";

/** Badge tone of a Docker container state (`running`, `exited`, `paused`, ...). */
export function containerStateTone(state: string): StateTone {
  switch (state) {
    case "running":
      return "success";
    case "restarting":
    case "paused":
      return "warning";
    case "dead":
      return "danger";
    default:
      return "neutral";
  }
}

/** "2 running · 1 exited" for a group of containers. */
export function stateSummary(states: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s || "unknown", (counts.get(s || "unknown") ?? 0) + 1);
  const order = (s: string) => (s === "running" ? 0 : 1);
  return [...counts.entries()]
    .sort((a, b) => order(a[0]) - order(b[0]) || a[0].localeCompare(b[0]))
    .map(([s, n]) => `${n} ${s}`)
    .join(" · ");
}

/** The ids in `selected` that are still listed (the list refreshes under the selection). */
export function pruneSelection(selected: ReadonlySet<string>, listed: readonly { id: string }[]): Set<string> {
  const ids = new Set(listed.map((c) => c.id));
  return new Set([...selected].filter((id) => ids.has(id)));
}

/** Adoption warnings handed to the service page through the router's location state. */
export function adoptNoticeFromState(state: unknown): { warnings: string[]; from: string } | null {
  if (typeof state !== "object" || state === null) return null;
  const { adoptWarnings, adoptedFrom } = state as { adoptWarnings?: unknown; adoptedFrom?: unknown };
  if (!Array.isArray(adoptWarnings)) return null;
  const warnings = adoptWarnings.filter((x): x is string => typeof x === "string");
  if (!warnings.length) return null;
  return { warnings, from: typeof adoptedFrom === "string" ? adoptedFrom : "" };
}
