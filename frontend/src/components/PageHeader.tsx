import type { ReactNode } from "react";
import { cn } from "@/lib/utils";

/** Sub-header under the top bar: one line of context plus page actions. */
export function PageHeader({ description, actions, className }: { description?: ReactNode; actions?: ReactNode; className?: string }) {
  return (
    <div className={cn("mb-5 flex flex-wrap items-center justify-between gap-3", className)}>
      {description ? <p className="text-sm text-muted-foreground">{description}</p> : <span />}
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}
