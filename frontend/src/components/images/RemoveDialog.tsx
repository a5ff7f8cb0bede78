import { Loader2, Trash2 } from "lucide-react";
import { useEffect, useState, type ReactNode } from "react";
import { isApiError } from "@/api/errors";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";

/**
 * Confirm a removal; the server's refusal (in use, built in) is shown as is. With
 * `allowForce`, the user may retry with force after a refusal.
 */
export function RemoveDialog({
  open,
  onOpenChange,
  title,
  description,
  allowForce = false,
  onRemove,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  title: string;
  description: ReactNode;
  allowForce?: boolean;
  onRemove: (force: boolean) => Promise<unknown>;
}) {
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  useEffect(() => {
    if (open) {
      setForce(false);
      setError(null);
    }
  }, [open]);

  const confirm = async () => {
    setPending(true);
    setError(null);
    try {
      await onRemove(force);
      onOpenChange(false);
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <Dialog open={open} onOpenChange={(o) => !pending && onOpenChange(o)}>
      <DialogContent data-testid="remove-dialog">
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription>{description}</DialogDescription>
        </DialogHeader>
        {(error || allowForce) && (
          <DialogBody className="space-y-3">
            {error && (
              <p role="alert" className="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-900 dark:border-red-900/70 dark:bg-red-950/40 dark:text-red-200" data-testid="remove-error">
                {error}
              </p>
            )}
            {allowForce && (
              <label className="flex items-center gap-2 text-sm">
                <Checkbox checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="remove-force" />
                Force (remove even if containers use it)
              </label>
            )}
          </DialogBody>
        )}
        <DialogFooter>
          <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={pending}>
            Cancel
          </Button>
          <Button type="button" variant="destructive" onClick={() => void confirm()} disabled={pending} data-testid="remove-confirm">
            {pending ? <Loader2 className="animate-spin" /> : <Trash2 />} Remove
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
