import { Badge } from "@/components/ui/badge";
import { cn } from "@/lib/utils";

export const CONTAINER_STATES = ["running", "exited", "created", "paused", "restarting", "dead"] as const;

type Tone = "success" | "neutral" | "danger" | "warning" | "accent";

/** The pill's tone: an exit with a non-zero code or a dead container reads as a failure. */
export function containerTone(state: string, status: string): Tone {
  if (state === "running") return /\(unhealthy\)/.test(status) ? "warning" : "success";
  if (state === "restarting") return "warning";
  if (state === "paused") return "accent";
  if (state === "dead") return "danger";
  if (state === "exited") return /^Exited \(0\)/.test(status) ? "neutral" : "danger";
  return "neutral";
}

const DOTS: Record<Tone, string> = {
  success: "bg-emerald-500",
  neutral: "bg-zinc-400",
  danger: "bg-red-500",
  warning: "bg-amber-500",
  accent: "bg-sky-500",
};

/** A container's state with Docker's status text (`Up (healthy)`, `Exited (137)`). */
export function ContainerStatePill({ state, status, className }: { state: string; status: string; className?: string }) {
  const tone = containerTone(state, status);
  return (
    <Badge tone={tone} className={className} title={status} data-testid="container-state" data-state={state}>
      <span aria-hidden className={cn("size-1.5 rounded-full", DOTS[tone], state === "restarting" && "animate-pulse")} />
      {status || state}
    </Badge>
  );
}
