import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { useNavigate } from "react-router";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { jobKeys, serviceKeys } from "@/api/serviceQueries";
import { servicesApi } from "@/api/services";
import type { JobOut, ServiceAction, ServiceOut } from "@/api/types";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Checkbox } from "@/components/ui/checkbox";
import { jobStore, openJob } from "@/lib/jobStore";
import { actionProgressive, jobKindLabel } from "@/lib/serviceStatus";

type ServiceRef = Pick<ServiceOut, "id" | "name" | "status" | "deployed_revision" | "active_job" | "revision">;

const VERB: Record<ServiceAction, string> = {
  deploy: "Deploy",
  start: "Start",
  stop: "Stop",
  restart: "Restart",
  pull: "Pull",
  update: "Update",
  delete: "Delete",
};

/** Shows the "started" toast for a job and asks the watcher for a "finished" toast. */
export function announceJob(job: JobOut, serviceName: string, action: ServiceAction): void {
  const verb = VERB[action] ?? jobKindLabel(job.kind);
  jobStore.watch({ id: job.id, verb, serviceName, serviceId: job.service_id });
  toast.loading(`${actionProgressive(action)} ${serviceName}…`, {
    id: `job-${job.id}`,
    description: job.status === "queued" ? "Queued" : "Running",
    action: { label: "Details", onClick: () => openJob(job.id) },
    duration: Infinity,
  });
}

export interface ServiceActionsApi {
  /** Starts an action, asking for confirmation first where it matters. */
  request: (action: ServiceAction) => void;
  pending: ServiceAction | null;
  dialogs: ReactNode;
}

/**
 * The actions on one service: confirm dialogs (stop, update, delete), the request, the
 * job toast, and query refreshes. Render `dialogs` once next to the buttons.
 */
export function useServiceActions(service: ServiceRef | undefined): ServiceActionsApi {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [confirm, setConfirm] = useState<ServiceAction | null>(null);
  const [removeVolumes, setRemoveVolumes] = useState(false);

  const mutation = useMutation({
    mutationFn: ({ action, body }: { action: ServiceAction; body?: { remove_volumes: boolean; confirm: string } }) =>
      servicesApi.action(service!.id, action, body),
    meta: {
      // A concurrent operation is explained in words, not as a generic failure.
      toast: (err: unknown) => !(isApiError(err) && err.code === "job_conflict"),
    },
    onError: (err) => {
      if (isApiError(err) && err.code === "job_conflict") {
        toast.warning(`Another operation is already running on ${service?.name}.`, {
          description: "Wait for it to finish, then try again.",
        });
      }
    },
    onSuccess: ({ job }, { action }) => {
      if (!service) return;
      setConfirm(null);
      announceJob(job, service.name, action);
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      void queryClient.invalidateQueries({ queryKey: serviceKeys.detail(service.id) });
      void queryClient.invalidateQueries({ queryKey: jobKeys.lists() });
      if (action === "delete") void navigate("/services");
    },
  });

  const run = (action: ServiceAction) => {
    if (!service) return;
    const body = action === "delete" ? { remove_volumes: removeVolumes, confirm: service.name } : undefined;
    mutation.mutate({ action, body });
  };

  const request = (action: ServiceAction) => {
    if (!service || mutation.isPending) return;
    if (action === "stop" || action === "update" || action === "delete") {
      setRemoveVolumes(false);
      setConfirm(action);
    } else {
      run(action);
    }
  };

  const pending = mutation.isPending ? (mutation.variables?.action ?? null) : null;
  const close = (open: boolean) => !open && setConfirm(null);
  const name = service?.name ?? "";

  const dialogs = service ? (
    <>
      <ConfirmDialog
        open={confirm === "stop"}
        onOpenChange={close}
        title={`Stop ${name}?`}
        description="Its containers stop and stay stopped until you start the service again. Nothing is deleted."
        confirmLabel="Stop service"
        pending={pending === "stop"}
        onConfirm={() => run("stop")}
      />
      <ConfirmDialog
        open={confirm === "update"}
        onOpenChange={close}
        title={`Update ${name}?`}
        description="Dockyard pulls the images again and recreates every container whose image changed. Those containers restart, which may briefly interrupt the service."
        confirmLabel="Pull and update"
        pending={pending === "update"}
        onConfirm={() => run("update")}
      />
      <ConfirmDialog
        open={confirm === "delete"}
        onOpenChange={close}
        title={`Delete ${name}?`}
        description="Its containers and networks are removed, and the service with its revision history is deleted. This can't be undone."
        confirmLabel="Delete service"
        destructive
        requireText={name}
        pending={pending === "delete"}
        onConfirm={() => run("delete")}
      >
        <label className="flex cursor-pointer items-start gap-2.5 rounded-md border border-red-200 bg-red-50/60 p-3 text-sm dark:border-red-900/60 dark:bg-red-950/30">
          <Checkbox
            className="mt-0.5"
            checked={removeVolumes}
            onChange={(e) => setRemoveVolumes(e.target.checked)}
            data-testid="delete-remove-volumes"
          />
          <span>
            <span className="font-medium">Also delete named volumes</span>
            <span className="block text-xs text-muted-foreground">Data loss: everything stored in the service's named volumes is erased.</span>
          </span>
        </label>
      </ConfirmDialog>
    </>
  ) : null;

  return { request, pending, dialogs };
}
