import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Info, Loader2, TriangleAlert } from "lucide-react";
import { useEffect, useId, useState } from "react";
import { useNavigate } from "react-router";
import { adoptionKeys, jobKeys, serviceKeys } from "@/api/serviceQueries";
import { adoptionApi } from "@/api/services";
import type { AdoptRequest, AdoptResult } from "@/api/types";
import { FieldError } from "@/components/services/ContainerFields";
import { announceJob } from "@/components/services/useServiceActions";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import {
  adoptBlocked,
  adoptErrorInline,
  adoptErrorView,
  buildAdoptRequest,
  initialAdoptName,
  serviceNameProblem,
  type AdoptErrorView,
  type AdoptTarget,
} from "@/lib/adopt";

/** Adoption warnings travel to the service page in the router's location state. */
export interface AdoptLocationState {
  adoptWarnings: string[];
  adoptedFrom: string;
}

const SHOWN_CONTAINERS = 8;

function describeTarget(target: AdoptTarget): string {
  if (target.kind === "project") return `compose project ${target.project}`;
  // As the server words its default description ("Adopted containers a, b").
  return `containers ${target.containers.map((c) => c.name).join(", ")}`;
}

/**
 * Names the new service and adopts a compose project or loose containers: the server saves
 * the service and queues the deploy that replaces the containers; we then open the service
 * page (where the job shows) and hand it the adoption's warnings.
 */
export function AdoptDialog({
  target,
  nodeId,
  nodeName,
  onOpenChange,
}: {
  target: AdoptTarget | null;
  nodeId: number | null;
  nodeName: string;
  onOpenChange: (open: boolean) => void;
}) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const nameId = useId();
  const descriptionId = useId();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [serverError, setServerError] = useState<AdoptErrorView | null>(null);

  useEffect(() => {
    if (!target) return;
    setName(initialAdoptName(target));
    setDescription("");
    setServerError(null);
  }, [target]);

  const adopt = useMutation({
    mutationFn: ({ body }: { body: AdoptRequest; from: string }) => adoptionApi.adopt(body),
    // Name problems are shown on the field; everything else goes through the error toast.
    meta: { toast: (err: unknown) => !adoptErrorInline(err) },
    onMutate: () => setServerError(null),
    onError: (err) => {
      const view = adoptErrorView(err);
      if (view?.stale) {
        // The project or a container is gone or already taken: the list is out of date.
        void queryClient.invalidateQueries({ queryKey: adoptionKeys.all });
        onOpenChange(false);
        return;
      }
      setServerError(view);
    },
    onSuccess: (result: AdoptResult, { from }) => {
      void queryClient.invalidateQueries({ queryKey: adoptionKeys.all });
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      void queryClient.invalidateQueries({ queryKey: jobKeys.lists() });
      announceJob(result.job, result.name, "deploy");
      onOpenChange(false);
      const state: AdoptLocationState | undefined =
        result.warnings.length > 0 ? { adoptWarnings: result.warnings, adoptedFrom: from } : undefined;
      void navigate(`/services/${result.id}`, { state });
    },
  });

  const open = target !== null;
  const pending = adopt.isPending;
  const localProblem = serviceNameProblem(name);
  const nameErrors = localProblem ? [localProblem] : (serverError?.name ?? []);
  const blocked = !target || adoptBlocked(target, name);

  const submit = () => {
    if (!target || blocked || pending) return;
    adopt.mutate({ body: buildAdoptRequest(target, { nodeId, name, description }), from: describeTarget(target) });
  };

  const containers = target?.containers ?? [];
  const renamed = target?.kind === "project" && name !== target.project && !localProblem && name !== "";

  return (
    <Dialog open={open} onOpenChange={(o) => !pending && onOpenChange(o)}>
      <DialogContent data-testid="adopt-dialog" className="sm:max-w-xl">
        {target && (
          <form
            className="flex min-h-0 flex-col"
            onSubmit={(e) => {
              e.preventDefault();
              submit();
            }}
          >
            <DialogHeader>
              <DialogTitle>
                {target.kind === "project" ? (
                  <>
                    Adopt compose project <span className="font-mono">{target.project}</span>
                  </>
                ) : (
                  `Adopt ${containers.length} container${containers.length === 1 ? "" : "s"} as one service`
                )}
              </DialogTitle>
              <DialogDescription>
                Dockyard takes over {containers.length === 1 ? "this container" : `these ${containers.length} containers`} on{" "}
                <span className="font-medium text-foreground">{nodeName}</span> and manages {containers.length === 1 ? "it" : "them"} as a service from now on.
              </DialogDescription>
            </DialogHeader>
            <DialogBody className="space-y-4">
              <ul className="flex flex-wrap gap-1.5" aria-label="Containers to adopt">
                {containers.slice(0, SHOWN_CONTAINERS).map((c) => (
                  <li key={c.id} className="max-w-full truncate rounded-md border bg-muted/60 px-1.5 py-0.5 font-mono text-[11.5px] leading-4" title={c.name}>
                    {c.name}
                  </li>
                ))}
                {containers.length > SHOWN_CONTAINERS && (
                  <li className="px-1 text-xs text-muted-foreground">+{containers.length - SHOWN_CONTAINERS} more</li>
                )}
              </ul>

              <div className="flex gap-2.5 rounded-md border border-sky-200 bg-sky-50/70 p-3 text-sm dark:border-sky-900/70 dark:bg-sky-950/30" data-testid="adopt-explanation">
                <Info className="mt-0.5 size-4 shrink-0 text-sky-700 dark:text-sky-300" aria-hidden />
                <div className="space-y-1">
                  <p>
                    Dockyard recreates each container with the same configuration and its labels; volumes and published ports are kept; the containers get
                    new IDs.
                  </p>
                  <p className="text-xs text-muted-foreground">
                    Each container stops for a moment while it is replaced; if a replacement fails, the old container comes back. Anything that can't be
                    carried over is listed on the service page.
                  </p>
                </div>
              </div>

              <div className="space-y-1.5">
                <Label htmlFor={nameId}>Service name</Label>
                <Input
                  id={nameId}
                  value={name}
                  onChange={(e) => {
                    setName(e.target.value.toLowerCase());
                    if (serverError?.name.length) setServerError({ ...serverError, name: [] });
                  }}
                  autoComplete="off"
                  autoCapitalize="off"
                  spellCheck={false}
                  autoFocus
                  maxLength={100}
                  className="font-mono"
                  aria-invalid={nameErrors.length ? true : undefined}
                  aria-describedby={`${nameId}-help`}
                  data-testid="adopt-name"
                />
                {nameErrors.length ? (
                  <FieldError messages={nameErrors} id={`${nameId}-help`} />
                ) : renamed ? (
                  <p id={`${nameId}-help`} className="text-xs text-amber-700 dark:text-amber-400" data-testid="adopt-rename-note">
                    The containers move from compose project <span className="font-mono">{target.project}</span> to{" "}
                    <span className="font-mono">{name}</span>; volumes and networks keep their names.
                  </p>
                ) : (
                  <p id={`${nameId}-help`} className="text-xs text-muted-foreground">
                    {target.kind === "project"
                      ? "Keeping the project's name keeps its containers in the same compose project."
                      : "The name of the new service; the containers keep their own names."}
                  </p>
                )}
              </div>

              <div className="space-y-1.5">
                <Label htmlFor={descriptionId}>
                  Description <span className="font-normal text-muted-foreground">(optional)</span>
                </Label>
                <Input
                  id={descriptionId}
                  value={description}
                  onChange={(e) => setDescription(e.target.value)}
                  placeholder={`Adopted ${describeTarget(target)}`}
                  maxLength={2000}
                  data-testid="adopt-description"
                />
              </div>

              {serverError && serverError.other.length > 0 && (
                <div role="alert" className="flex gap-2 rounded-md border border-red-200 bg-red-50/60 p-3 text-sm text-red-800 dark:border-red-900/60 dark:bg-red-950/30 dark:text-red-300">
                  <TriangleAlert className="mt-0.5 size-4 shrink-0" aria-hidden />
                  <ul className="space-y-0.5">
                    {serverError.other.map((m) => (
                      <li key={m}>{m}</li>
                    ))}
                  </ul>
                </div>
              )}
            </DialogBody>
            <DialogFooter>
              <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={pending}>
                Cancel
              </Button>
              <Button type="submit" disabled={blocked || pending} data-testid="adopt-submit">
                {pending && <Loader2 className="animate-spin" />}
                {target.kind === "project" ? "Adopt project" : "Adopt containers"}
              </Button>
            </DialogFooter>
          </form>
        )}
      </DialogContent>
    </Dialog>
  );
}
