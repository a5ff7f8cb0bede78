import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { realtime } from "@/api/realtime";
import { bindRealtimeToQueryClient, useRealtimeStatus } from "@/api/realtimeQueries";
import { Tip } from "@/components/ui/tooltip";
import { cn } from "@/lib/utils";

/** Runs the realtime client while the app shell is mounted (i.e. while signed in). */
export function RealtimeBridge() {
  const queryClient = useQueryClient();
  useEffect(() => {
    const unbind = bindRealtimeToQueryClient(realtime, queryClient);
    realtime.start();
    return () => {
      unbind();
      realtime.stop();
    };
  }, [queryClient]);
  return null;
}

const VIEW = {
  live: { label: "Live", dot: "bg-emerald-500", tip: "Live updates are on." },
  connecting: { label: "Connecting", dot: "bg-amber-400 animate-pulse", tip: "Connecting for live updates…" },
  reconnecting: { label: "Reconnecting", dot: "bg-amber-400 animate-pulse", tip: "Connection lost. Reconnecting; pages refresh every few seconds meanwhile." },
  unavailable: { label: "Polling", dot: "bg-zinc-400", tip: "Live updates are not available from this server; pages refresh every few seconds." },
  idle: { label: "Offline", dot: "bg-zinc-400", tip: "Live updates are off." },
} as const;

export function RealtimeIndicator() {
  const status = useRealtimeStatus();
  const v = VIEW[status];
  return (
    <Tip content={v.tip}>
      <span
        role="status"
        tabIndex={0}
        aria-label={v.tip}
        data-testid="realtime-indicator"
        data-status={status}
        className="inline-flex h-7 items-center gap-1.5 rounded-full px-2 text-xs text-muted-foreground outline-none focus-visible:ring-2 focus-visible:ring-ring"
      >
        <span aria-hidden className={cn("size-2 rounded-full", v.dot)} />
        <span className={cn("max-sm:sr-only", status === "live" && "text-foreground/80")}>{v.label}</span>
      </span>
    </Tip>
  );
}
