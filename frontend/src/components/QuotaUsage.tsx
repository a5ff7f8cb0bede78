import type { QuotaOut } from "@/api/users";
import { formatBytes } from "@/lib/format";
import { usageRows } from "@/lib/quota";
import { cn } from "@/lib/utils";

/** Usage against each limit of a quota, as labelled bars. */
export function QuotaUsage({ quota, className }: { quota: QuotaOut; className?: string }) {
  return (
    <div className={cn("space-y-3", className)} data-testid="quota-usage">
      <ul className="grid gap-3 sm:grid-cols-2">
        {usageRows(quota).map((row) => (
          <li key={row.key} data-testid="quota-usage-row" data-key={row.key} className="space-y-1">
            <div className="flex items-baseline justify-between gap-2 text-sm">
              <span className="font-medium">{row.label}</span>
              <span className={cn("tabular-nums", row.full && row.used > 0 ? "text-amber-800 dark:text-amber-300" : "text-muted-foreground")}>{row.text}</span>
            </div>
            <div
              className="h-1.5 overflow-hidden rounded-full bg-muted"
              role="meter"
              aria-label={`${row.label} used`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={row.percent ?? 0}
              aria-valuetext={row.text}
            >
              {row.percent !== null && (
                <div
                  className={cn("h-full rounded-full", row.percent >= 100 ? "bg-amber-500" : row.percent >= 80 ? "bg-amber-400" : "bg-sky-500")}
                  style={{ width: `${Math.max(row.percent, row.used > 0 ? 2 : 0)}%` }}
                />
              )}
            </div>
          </li>
        ))}
      </ul>
      <p className="text-xs text-muted-foreground">
        Containers without their own limits count as {quota.default_cpus} CPU and {formatBytes(quota.default_memory)} each, and get at most {quota.default_pids} processes.
      </p>
    </div>
  );
}
