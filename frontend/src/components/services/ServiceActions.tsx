import { CloudDownload, FileDown, Loader2, MoreHorizontal, Play, RefreshCcwDot, RotateCw, Rocket, Square, Trash2, type LucideIcon } from "lucide-react";
import { downloadAuthenticated } from "@/api/client";
import { showErrorToast } from "@/api/queryClient";
import { servicesApi } from "@/api/services";
import type { ServiceAction, ServiceOut } from "@/api/types";
import { Button } from "@/components/ui/button";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { Tip } from "@/components/ui/tooltip";
import { useMe } from "@/api/queries";
import { hasPermission } from "@/lib/permissions";
import { actionState } from "@/lib/serviceStatus";
import { cn } from "@/lib/utils";
import { useServiceActions } from "./useServiceActions";

type Service = Pick<ServiceOut, "id" | "name" | "status" | "deployed_revision" | "active_job" | "revision" | "drift">;

export const ACTION_META: Record<ServiceAction, { label: string; icon: LucideIcon; hint: string }> = {
  deploy: { label: "Deploy", icon: Rocket, hint: "Deploy the latest revision" },
  start: { label: "Start", icon: Play, hint: "Start the stopped containers" },
  stop: { label: "Stop", icon: Square, hint: "Stop every container" },
  restart: { label: "Restart", icon: RotateCw, hint: "Restart every container" },
  pull: { label: "Pull", icon: CloudDownload, hint: "Pull the images (nothing restarts)" },
  update: { label: "Update", icon: RefreshCcwDot, hint: "Pull the images and recreate changed containers" },
  delete: { label: "Delete", icon: Trash2, hint: "Delete the service" },
};

/** The permission each action needs (as the server's `ACTION_PERMISSIONS`). */
export const ACTION_PERMISSION: Record<ServiceAction, string> = {
  deploy: "services:deploy",
  start: "services:deploy",
  stop: "services:deploy",
  restart: "services:deploy",
  pull: "services:update",
  update: "services:update",
  delete: "services:delete",
};

/** Which actions the signed-in user may run (the server decides; the UI hides the rest). */
function useAllowedActions(): (a: ServiceAction) => boolean {
  const me = useMe();
  return (a) => hasPermission(me.data?.permissions, ACTION_PERMISSION[a]);
}

export async function exportCompose(service: Pick<ServiceOut, "id" | "name">, revision?: number): Promise<void> {
  try {
    await downloadAuthenticated(servicesApi.composeUrl(service.id, revision), `${service.name}.compose.yaml`);
  } catch (err) {
    showErrorToast(err);
  }
}

function ActionIconButton({
  service,
  action,
  pending,
  onRun,
  withLabel = false,
  variant = "ghost",
  compact = false,
}: {
  service: Service;
  action: ServiceAction;
  pending: ServiceAction | null;
  onRun: (a: ServiceAction) => void;
  withLabel?: boolean;
  variant?: "ghost" | "outline" | "default";
  compact?: boolean;
}) {
  const allowed = useAllowedActions();
  const meta = ACTION_META[action];
  const state = actionState(service, action);
  const Icon = pending === action ? Loader2 : meta.icon;
  if (!allowed(action)) return null;
  const button = (
    <Button
      variant={variant}
      size={withLabel ? "sm" : "icon"}
      className={cn(!withLabel && (compact ? "size-7" : "size-8"), withLabel && "h-8")}
      disabled={!state.enabled || pending !== null}
      aria-label={withLabel ? undefined : `${meta.label} ${service.name}`}
      onClick={(e) => {
        e.stopPropagation();
        onRun(action);
      }}
      data-testid={`action-${action}`}
    >
      <Icon className={cn(pending === action && "animate-spin")} />
      {withLabel && <span className="max-sm:sr-only">{meta.label}</span>}
    </Button>
  );
  // Disabled buttons get no pointer events: the tooltip sits on a wrapper.
  return (
    <Tip content={state.enabled ? meta.hint : (state.reason ?? meta.hint)}>
      <span className="inline-flex" tabIndex={state.enabled ? undefined : 0}>
        {button}
      </span>
    </Tip>
  );
}

function MoreMenu({
  service,
  onRun,
  pending,
  extraFirst,
  compact = false,
}: {
  service: Service;
  onRun: (a: ServiceAction) => void;
  pending: ServiceAction | null;
  extraFirst?: ServiceAction[];
  compact?: boolean;
}) {
  const allowed = useAllowedActions();
  const items: ServiceAction[] = (extraFirst ?? []).filter(allowed);
  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="icon" className={compact ? "size-7" : "size-8"} aria-label={`More actions for ${service.name}`} data-testid="service-more" onClick={(e) => e.stopPropagation()}>
          <MoreHorizontal />
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end" onClick={(e) => e.stopPropagation()}>
        {items.map((a) => {
          const meta = ACTION_META[a];
          const st = actionState(service, a);
          return (
            <DropdownMenuItem key={a} disabled={!st.enabled || pending !== null} onSelect={() => onRun(a)} data-testid={`action-${a}`}>
              <meta.icon /> {meta.label}
            </DropdownMenuItem>
          );
        })}
        <DropdownMenuItem onSelect={() => void exportCompose(service)} data-testid="action-export">
          <FileDown /> Export compose
        </DropdownMenuItem>
        {allowed("delete") && <DropdownMenuSeparator />}
        {allowed("delete") && (
        <DropdownMenuItem
          onSelect={() => onRun("delete")}
          disabled={pending !== null}
          className="text-red-600 focus:bg-red-50 focus:text-red-700 dark:text-red-400 dark:focus:bg-red-950/50 [&_svg]:!text-current"
          data-testid="action-delete"
        >
          <Trash2 /> Delete…
        </DropdownMenuItem>
        )}
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

/** Start or stop, whichever applies now (one slot keeps the row compact). */
export function startOrStop(service: Pick<ServiceOut, "status">): "start" | "stop" {
  return ["running", "partial", "restarting", "unhealthy"].includes(service.status) ? "stop" : "start";
}

/** Quick actions on a row of the services list. */
export function ServiceRowActions({ service }: { service: Service }) {
  const { request, pending, dialogs } = useServiceActions(service);
  return (
    <div className="flex items-center justify-end gap-0.5" onClick={(e) => e.stopPropagation()}>
      {([startOrStop(service), "restart", "pull", "update"] as const).map((a) => (
        <ActionIconButton key={a} service={service} action={a} pending={pending} onRun={request} compact />
      ))}
      <MoreMenu service={service} onRun={request} pending={pending} extraFirst={["deploy"]} compact />
      {dialogs}
    </div>
  );
}

/** The action bar of the service page header. */
export function ServiceHeaderActions({ service }: { service: Service }) {
  const { request, pending, dialogs } = useServiceActions(service);
  const allowed = useAllowedActions();
  const deployState = actionState(service, "deploy");
  const needsDeploy = service.deployed_revision == null || service.deployed_revision !== service.revision;
  return (
    <div className="flex flex-wrap items-center gap-1.5">
      {allowed("deploy") && (
      <Tip content={deployState.enabled ? (needsDeploy ? `Deploy revision ${service.revision}` : "Redeploy the current revision") : deployState.reason}>
        <span className="inline-flex" tabIndex={deployState.enabled ? undefined : 0}>
          <Button
            size="sm"
            className="h-8"
            variant={needsDeploy ? "default" : "outline"}
            disabled={!deployState.enabled || pending !== null}
            onClick={() => request("deploy")}
            data-testid="action-deploy"
          >
            {pending === "deploy" ? <Loader2 className="animate-spin" /> : <Rocket />}
            Deploy
          </Button>
        </span>
      </Tip>
      )}
      {(["start", "stop", "restart", "pull", "update"] as const).some(allowed) && (
        <div className="flex items-center rounded-md border bg-card p-0.5 shadow-xs">
          {(["start", "stop", "restart", "pull", "update"] as const).map((a) => (
            <ActionIconButton key={a} service={service} action={a} pending={pending} onRun={request} />
          ))}
        </div>
      )}
      <MoreMenu service={service} onRun={request} pending={pending} />
      {dialogs}
    </div>
  );
}
