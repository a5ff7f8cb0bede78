import { AlertTriangle, RotateCw } from "lucide-react";
import { errorToast } from "@/api/errors";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";

/** Inline replacement for content that failed to load (never a blank page). */
export function ErrorState({
  error,
  title = "Couldn't load this page",
  onRetry,
  className,
}: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
  className?: string;
}) {
  const t = errorToast(error);
  return (
    <div
      role="alert"
      data-testid="error-state"
      className={cn("flex flex-col items-center justify-center rounded-lg border bg-card px-6 py-12 text-center", className)}
    >
      <AlertTriangle className="size-6 text-amber-500" />
      <h2 className="mt-3 font-semibold">{title}</h2>
      <p className="mt-1 max-w-md text-sm text-muted-foreground">{t.message}</p>
      {t.requestId && <p className="mt-2 font-mono text-[11px] text-muted-foreground">Request ID: {t.requestId}</p>}
      {onRetry && (
        <Button variant="outline" size="sm" className="mt-4" onClick={onRetry}>
          <RotateCw /> Retry
        </Button>
      )}
    </div>
  );
}
