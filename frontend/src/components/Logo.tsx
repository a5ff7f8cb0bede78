import { Anchor } from "lucide-react";
import { cn } from "@/lib/utils";

export function Logo({ className, compact = false }: { className?: string; compact?: boolean }) {
  return (
    <span className={cn("inline-flex items-center gap-2 font-semibold tracking-tight", className)}>
      <span className="flex size-7 items-center justify-center rounded-md bg-primary text-primary-foreground shadow-sm">
        <Anchor className="size-4" strokeWidth={2.25} />
      </span>
      {!compact && <span className="text-[15px]">Dockyard</span>}
    </span>
  );
}
