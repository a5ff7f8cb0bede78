import { useQueryClient } from "@tanstack/react-query";
import { Download, Loader2 } from "lucide-react";
import { useEffect, useId, useState } from "react";
import { imagesApi, resourceKeys } from "@/api/images";
import { isApiError } from "@/api/errors";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { referenceProblem } from "@/lib/cleanup";
import { JobProgress } from "./JobProgress";

/** Pull an image by reference onto a node, then follow the job's layer progress. */
export function PullDialog({ nodeId, nodeName, open, onOpenChange }: { nodeId: number; nodeName: string; open: boolean; onOpenChange: (o: boolean) => void }) {
  const [reference, setReference] = useState("");
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [jobId, setJobId] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const inputId = useId();

  useEffect(() => {
    if (open) {
      setReference("");
      setTouched(false);
      setError(null);
      setJobId(null);
    }
  }, [open]);

  const problem = referenceProblem(reference);
  const submit = async () => {
    setTouched(true);
    if (problem) return;
    setPending(true);
    setError(null);
    try {
      const accepted = await imagesApi.pull(nodeId, reference.trim());
      setJobId(accepted.job.id);
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent data-testid="pull-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <DialogHeader>
            <DialogTitle>Pull an image</DialogTitle>
            <DialogDescription>Onto {nodeName}. Credentials of a configured registry are used when it needs them.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor={inputId}>Image reference</Label>
              <Input
                id={inputId}
                value={reference}
                onChange={(e) => setReference(e.target.value)}
                placeholder="nginx:1.27 or registry:5000/team/app:1"
                className="font-mono"
                autoComplete="off"
                spellCheck={false}
                autoFocus
                disabled={jobId !== null}
                aria-invalid={touched && !!problem}
                data-testid="pull-reference"
              />
              {touched && problem && <p className="text-xs text-destructive">{problem}</p>}
              {error && (
                <p className="text-xs text-destructive" role="alert" data-testid="pull-error">
                  {error}
                </p>
              )}
            </div>
            {jobId && (
              <JobProgress
                jobId={jobId}
                onDone={() => void queryClient.invalidateQueries({ queryKey: resourceKeys.all })}
              />
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>
              {jobId ? "Close" : "Cancel"}
            </Button>
            {!jobId && (
              <Button type="submit" disabled={pending} data-testid="pull-submit">
                {pending ? <Loader2 className="animate-spin" /> : <Download />} Pull
              </Button>
            )}
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
