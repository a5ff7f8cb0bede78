import { Loader2 } from "lucide-react";
import { useEffect, useId, useState, type ReactNode } from "react";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";

export interface ConfirmDialogProps {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  title: ReactNode;
  description?: ReactNode;
  children?: ReactNode;
  confirmLabel: string;
  destructive?: boolean;
  /** The user must type this text exactly to confirm (e.g. the service name). */
  requireText?: string;
  pending?: boolean;
  onConfirm: () => void | Promise<unknown>;
}

/** A confirmation dialog; Enter confirms once the required text matches. */
export function ConfirmDialog({
  open,
  onOpenChange,
  title,
  description,
  children,
  confirmLabel,
  destructive = false,
  requireText,
  pending = false,
  onConfirm,
}: ConfirmDialogProps) {
  const [typed, setTyped] = useState("");
  const inputId = useId();
  useEffect(() => {
    if (open) setTyped("");
  }, [open]);
  const ready = !requireText || typed === requireText;

  return (
    <Dialog open={open} onOpenChange={(o) => !pending && onOpenChange(o)}>
      <DialogContent data-testid="confirm-dialog" {...(description ? {} : { "aria-describedby": undefined })}>
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (ready && !pending) void onConfirm();
          }}
        >
          <DialogHeader>
            <DialogTitle>{title}</DialogTitle>
            {description && <DialogDescription>{description}</DialogDescription>}
          </DialogHeader>
          {(children || requireText) && (
            <DialogBody className="space-y-4">
              {children}
              {requireText && (
                <div className="space-y-1.5">
                  <Label htmlFor={inputId}>
                    Type <span className="font-mono font-semibold select-all">{requireText}</span> to confirm
                  </Label>
                  <Input
                    id={inputId}
                    value={typed}
                    onChange={(e) => setTyped(e.target.value)}
                    autoComplete="off"
                    autoCapitalize="off"
                    spellCheck={false}
                    autoFocus
                    className="font-mono"
                    data-testid="confirm-input"
                  />
                </div>
              )}
            </DialogBody>
          )}
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={pending}>
              Cancel
            </Button>
            <Button
              type="submit"
              variant={destructive ? "destructive" : "default"}
              disabled={!ready || pending}
              data-testid="confirm-submit"
              autoFocus={!requireText}
            >
              {pending && <Loader2 className="animate-spin" />}
              {confirmLabel}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
