import type { ServiceAction, ServiceOut, ServiceStatus } from "@/api/types";

export type StatusTone = "success" | "warning" | "danger" | "neutral" | "outline";

export interface StatusView {
  label: string;
  tone: StatusTone;
  /** Tailwind class of the dot inside the pill. */
  dot: string;
  description: string;
}

const STATUS: Record<ServiceStatus, StatusView> = {
  running: { label: "Running", tone: "success", dot: "bg-emerald-500", description: "Every container is running." },
  partial: { label: "Partial", tone: "warning", dot: "bg-amber-500", description: "Some containers are running, others are not." },
  restarting: { label: "Restarting", tone: "warning", dot: "bg-amber-500", description: "A container is restarting." },
  unhealthy: { label: "Unhealthy", tone: "danger", dot: "bg-red-500", description: "A running container fails its health check." },
  error: { label: "Error", tone: "danger", dot: "bg-red-500", description: "The service is deployed but its containers are missing." },
  stopped: { label: "Stopped", tone: "neutral", dot: "bg-zinc-400", description: "No container is running." },
  not_deployed: { label: "Not deployed", tone: "outline", dot: "bg-transparent border border-muted-foreground/60", description: "Saved, but never deployed." },
};

export const SERVICE_STATUSES = Object.keys(STATUS) as ServiceStatus[];

/** Label, colour and explanation of a service status (unknown values show as-is, grey). */
export function statusView(status: string): StatusView {
  return (
    STATUS[status as ServiceStatus] ?? {
      label: status ? status[0]!.toUpperCase() + status.slice(1).replace(/_/g, " ") : "Unknown",
      tone: "neutral",
      dot: "bg-zinc-400",
      description: "",
    }
  );
}

/** Status filter of the services list: a status, or "drift". */
export type StatusFilter = ServiceStatus | "drift" | "";

export function matchesStatusFilter(s: Pick<ServiceOut, "status" | "drift">, filter: StatusFilter): boolean {
  if (!filter) return true;
  if (filter === "drift") return s.drift;
  return s.status === filter;
}

export function parseStatusFilter(v: string | null): StatusFilter {
  if (!v) return "";
  if (v === "drift") return "drift";
  return (SERVICE_STATUSES as string[]).includes(v) ? (v as ServiceStatus) : "";
}

/** A job that is queued or running blocks other operations on its service. */
export function activeJob(s: Pick<ServiceOut, "active_job">) {
  const j = s.active_job;
  return j && (j.status === "queued" || j.status === "running") ? j : null;
}

export interface ActionState {
  enabled: boolean;
  /** Why it is disabled (tooltip text). */
  reason?: string;
}

const NEEDS_DEPLOY: ServiceAction[] = ["start", "stop", "restart", "update"];
const RUNNING_STATES: ServiceStatus[] = ["running", "partial", "restarting", "unhealthy"];

/** Whether an action makes sense now, and why not. The server has the last word (409s). */
export function actionState(
  s: Pick<ServiceOut, "status" | "deployed_revision" | "active_job">,
  action: ServiceAction,
): ActionState {
  const job = activeJob(s);
  if (job && action !== "delete") return { enabled: false, reason: `Wait for the running ${jobKindLabel(job.kind).toLowerCase()} to finish` };
  if (NEEDS_DEPLOY.includes(action) && s.deployed_revision == null) return { enabled: false, reason: "Deploy the service first" };
  if (action === "start" && s.status === "running") return { enabled: false, reason: "Already running" };
  if (action === "stop" && !RUNNING_STATES.includes(s.status)) return { enabled: false, reason: "Nothing is running" };
  return { enabled: true };
}

const JOB_KIND_LABELS: Record<string, string> = {
  "service.deploy": "Deploy",
  "service.start": "Start",
  "service.stop": "Stop",
  "service.restart": "Restart",
  "service.pull": "Pull",
  "service.update": "Update",
  "service.delete": "Delete",
};

/** `service.deploy` -> "Deploy"; unknown kinds: the last dotted part, capitalised. */
export function jobKindLabel(kind: string): string {
  const known = JOB_KIND_LABELS[kind];
  if (known) return known;
  const last = kind.split(".").pop() ?? kind;
  return last ? last[0]!.toUpperCase() + last.slice(1).replace(/[_-]/g, " ") : kind;
}

/** "Deploying", "Stopping", ... for progress text. */
export function actionProgressive(action: ServiceAction): string {
  switch (action) {
    case "stop":
      return "Stopping";
    case "pull":
      return "Pulling";
    case "delete":
      return "Deleting";
    default:
      return `${action[0]!.toUpperCase()}${action.slice(1)}ing`.replace(/eing$/, "ing");
  }
}
