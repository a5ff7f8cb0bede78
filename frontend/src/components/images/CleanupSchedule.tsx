import { useQueryClient } from "@tanstack/react-query";
import { CalendarClock, Loader2 } from "lucide-react";
import { useEffect, useState } from "react";
import { imagesApi, resourceKeys, useCleanupPolicy, type CleanupTarget } from "@/api/images";
import { isApiError } from "@/api/errors";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Input } from "@/components/ui/input";
import { targetLabel } from "@/lib/cleanup";
import { formatDateTime } from "@/lib/format";

/** The node's scheduled cleanup: the dialog's chosen targets, daily at a time of day. */
export function CleanupSchedule({ nodeId, targets, includeManaged }: { nodeId: number; targets: CleanupTarget[]; includeManaged: boolean }) {
  const policy = useCleanupPolicy(nodeId, true);
  const queryClient = useQueryClient();
  const [enabled, setEnabled] = useState(false);
  const [time, setTime] = useState("03:00");
  const [timezone, setTimezone] = useState("UTC");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  useEffect(() => {
    if (!policy.data) return;
    setEnabled(policy.data.enabled);
    setTime(policy.data.schedule.time ?? "03:00");
    setTimezone(policy.data.schedule.timezone);
  }, [policy.data]);

  const save = async () => {
    setPending(true);
    setError(null);
    try {
      const schedule = policy.data?.schedule.frequency === "daily" || !policy.data ? { frequency: "daily" as const, time, timezone } : { ...policy.data.schedule, time, timezone };
      await imagesApi.savePolicy(nodeId, { enabled, targets, include_managed: includeManaged, label: policy.data?.label ?? null, schedule });
      await queryClient.invalidateQueries({ queryKey: resourceKeys.policy(nodeId) });
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  const p = policy.data;
  return (
    <div className="space-y-2 rounded-md border p-3 text-sm" data-testid="cleanup-schedule">
      <div className="flex items-center gap-2 font-medium">
        <CalendarClock className="size-4" /> Scheduled cleanup
      </div>
      <p className="text-xs text-muted-foreground">
        {p?.enabled
          ? `On: ${p.targets.map(targetLabel).join(", ")} · next run ${formatDateTime(p.next_run_at)}`
          : "Off. Saving uses the targets chosen above."}
      </p>
      <div className="flex flex-wrap items-center gap-2">
        <label className="flex items-center gap-2">
          <Checkbox checked={enabled} onChange={(e) => setEnabled(e.target.checked)} data-testid="schedule-enabled" /> Daily at
        </label>
        <Input type="time" value={time} onChange={(e) => setTime(e.target.value)} className="w-28" aria-label="Time of day" />
        <Input value={timezone} onChange={(e) => setTimezone(e.target.value)} className="w-40" aria-label="Time zone" placeholder="Europe/Berlin" />
        <Button type="button" variant="outline" size="sm" onClick={() => void save()} disabled={pending || (enabled && targets.length === 0)} data-testid="schedule-save">
          {pending && <Loader2 className="animate-spin" />} Save schedule
        </Button>
      </div>
      {error && (
        <p role="alert" className="text-xs text-destructive">
          {error}
        </p>
      )}
    </div>
  );
}
