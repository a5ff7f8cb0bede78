import type { ReactNode } from "react";
import { cn } from "@/lib/utils";

export interface KeyValueItem {
  label: string;
  value: ReactNode;
  mono?: boolean;
  testId?: string;
  title?: string;
}

/** Definition list of facts: two columns on wide cards, one on phones. Long values wrap. */
export function KeyValueGrid({ items, className }: { items: KeyValueItem[]; className?: string }) {
  return (
    // The wrapper clips the last row's bottom border (-mb-px) whatever the column count.
    <div className="overflow-hidden">
    <dl className={cn("-mb-px grid grid-cols-1 gap-x-8 sm:grid-cols-2", className)}>
      {items.map((it) => {
        const empty = it.value === "—";
        return (
          <div key={it.label} className="flex items-baseline justify-between gap-4 border-b border-border/60 py-2 leading-5">
            <dt className="shrink-0 text-xs text-muted-foreground">{it.label}</dt>
            <dd
              className={cn(
                "min-w-0 text-right text-sm break-words",
                it.mono && !empty && "font-mono text-[13px] break-all",
                empty && "text-muted-foreground",
              )}
              data-testid={it.testId}
              title={it.title}
            >
              {it.value}
            </dd>
          </div>
        );
      })}
    </dl>
    </div>
  );
}
