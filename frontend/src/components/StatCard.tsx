import type { LucideIcon } from "lucide-react";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { cn } from "@/lib/utils";

export function StatCard({
  label,
  value,
  hint,
  icon: Icon,
  testId,
  loading,
  accent,
}: {
  label: string;
  value: string;
  hint?: string;
  icon: LucideIcon;
  testId?: string;
  loading?: boolean;
  accent?: "success" | "muted";
}) {
  return (
    <Card className="px-4 py-3.5">
      <div className="flex items-center justify-between gap-2">
        <p className="truncate text-xs font-medium text-muted-foreground">{label}</p>
        <Icon
          className={cn(
            "size-4 shrink-0",
            accent === "success" ? "text-emerald-500" : accent === "muted" ? "text-muted-foreground/70" : "text-primary",
          )}
        />
      </div>
      {loading ? (
        <Skeleton className="mt-2 h-7 w-16" />
      ) : (
        <p className="mt-1.5 text-2xl leading-8 font-semibold tabular-nums" data-testid={testId}>
          {value}
        </p>
      )}
      <p className="mt-0.5 h-4 truncate text-xs text-muted-foreground">{loading ? "" : hint}</p>
    </Card>
  );
}
