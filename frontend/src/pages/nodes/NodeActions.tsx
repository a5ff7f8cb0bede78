import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Ban, KeyRound, Pencil, RefreshCw, Trash2 } from "lucide-react";
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { nodesApi, type Enrollment, type NodeView } from "@/api/nodes";
import { queryKeys } from "@/api/queries";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { EnrollmentDialog, errorText, FormError } from "./NodeDialogs";
import { nodeState, servicesFromConflict, type ServiceRef } from "./nodeFormat";

interface DeleteBlock {
  message: string;
  services: ServiceRef[];
  /** The server's error code: `node_in_use` can be overridden on an offline node. */
  code: string | null;
}

/** What each action may do for this node (the server decides; this only hides the impossible). */
export function availableActions(node: NodeView) {
  const agent = node.kind === "agent";
  const state = nodeState(node);
  return {
    edit: true,
    rotate: agent && state !== "revoked" && state !== "pending",
    revoke: agent && state !== "revoked" && state !== "pending",
    enrollmentToken: agent && (state === "revoked" || state === "pending"),
    remove: agent,
  };
}

/** The node page's actions (for users with nodes:manage). */
export function NodeActions({ node, onEdit }: { node: NodeView; onEdit: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const can = availableActions(node);
  const [confirm, setConfirm] = useState<"rotate" | "revoke" | "token" | "delete" | null>(null);
  const [enrollment, setEnrollment] = useState<{ title: string; description: string; value: Enrollment } | null>(null);
  const [deleteBlock, setDeleteBlock] = useState<DeleteBlock | null>(null);
  const [forget, setForget] = useState(false);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: queryKeys.nodes });

  const rotate = useMutation({
    mutationFn: () => nodesApi.rotateCredentials(node.id),
    onSuccess: (r) => {
      setConfirm(null);
      refresh();
      if (r.delivered) {
        toast.success(`New credential delivered to the agent on ${node.name}. The old one no longer works.`);
      } else if (r.enrollment_token) {
        setEnrollment({
          title: `Re-enroll the agent on ${node.name}`,
          description: "The agent was offline, so its credential was replaced by a new enrollment token. Run the command on the node to enroll it again.",
          value: { enrollment_token: r.enrollment_token, enrollment_expires_at: r.enrollment_expires_at ?? null, agent_command: r.agent_command ?? null },
        });
      } else {
        toast(`The credential of ${node.name} was rotated.`);
      }
    },
  });

  const revoke = useMutation({
    mutationFn: () => nodesApi.revoke(node.id),
    onSuccess: () => {
      setConfirm(null);
      refresh();
      toast(`Revoked ${node.name}: its agent was disconnected.`);
    },
  });

  const newToken = useMutation({
    mutationFn: () => nodesApi.enrollmentToken(node.id),
    onSuccess: (r) => {
      setConfirm(null);
      refresh();
      setEnrollment({
        title: `Enroll the agent on ${node.name}`,
        description: "Run the command on the Docker host. The node shows as online once its agent connects.",
        value: r,
      });
    },
  });

  const remove = useMutation({
    mutationFn: () => nodesApi.remove(node.id, forget),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 409 || err.status === 422)) },
    onMutate: () => setDeleteBlock(null),
    onError: (err) => {
      if (isApiError(err) && (err.status === 409 || err.status === 422)) {
        setDeleteBlock({
          message: errorText(err, "The node can't be deleted."),
          services: servicesFromConflict(err.details),
          code: err.code ?? null,
        });
      }
    },
    onSuccess: () => {
      setConfirm(null);
      queryClient.removeQueries({ queryKey: queryKeys.node(node.id) });
      void queryClient.invalidateQueries({ queryKey: queryKeys.nodes });
      toast(`Deleted ${node.name}`);
      void navigate("/nodes");
    },
  });

  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="node-actions">
      <Button variant="outline" size="sm" onClick={onEdit} data-testid="node-edit">
        <Pencil /> Edit
      </Button>
      {can.enrollmentToken && (
        <Button variant="outline" size="sm" onClick={() => setConfirm("token")} data-testid="node-new-token">
          <KeyRound /> New enrollment token
        </Button>
      )}
      {can.rotate && (
        <Button variant="outline" size="sm" onClick={() => setConfirm("rotate")} data-testid="node-rotate">
          <RefreshCw /> Rotate credentials
        </Button>
      )}
      {can.revoke && (
        <Button variant="outline" size="sm" className="text-destructive hover:text-destructive" onClick={() => setConfirm("revoke")} data-testid="node-revoke">
          <Ban /> Revoke
        </Button>
      )}
      {can.remove && (
        <Button
          variant="outline"
          size="sm"
          className="text-destructive hover:text-destructive"
          onClick={() => {
            setDeleteBlock(null);
            setConfirm("delete");
          }}
          data-testid="node-delete"
        >
          <Trash2 /> Delete
        </Button>
      )}

      <ConfirmDialog
        open={confirm === "rotate"}
        onOpenChange={(o) => !o && setConfirm(null)}
        title={`Rotate the credential of ${node.name}?`}
        description="An online agent receives a new credential at once and the old one stops working. If the agent is offline, its credential is replaced by a new enrollment token and the agent has to enroll again."
        confirmLabel="Rotate"
        pending={rotate.isPending}
        onConfirm={() => rotate.mutate()}
      />
      <ConfirmDialog
        open={confirm === "revoke"}
        onOpenChange={(o) => !o && setConfirm(null)}
        title={`Revoke ${node.name}?`}
        description="The agent is disconnected at once and its credential stops working: it exits and does not retry. Services on this node keep running, but Dockyard can't manage them until a new agent enrolls."
        confirmLabel="Revoke"
        destructive
        pending={revoke.isPending}
        onConfirm={() => revoke.mutate()}
      />
      <ConfirmDialog
        open={confirm === "token"}
        onOpenChange={(o) => !o && setConfirm(null)}
        title={`New enrollment token for ${node.name}?`}
        description="A new one-time token is issued and any earlier token of this node stops working."
        confirmLabel="Issue token"
        pending={newToken.isPending}
        onConfirm={() => newToken.mutate()}
      />
      <ConfirmDialog
        open={confirm === "delete"}
        onOpenChange={(o) => {
          if (!o) {
            setConfirm(null);
            setDeleteBlock(null);
            setForget(false);
          }
        }}
        title={`Delete ${node.name}?`}
        description="The node is removed from Dockyard and its agent is disconnected. Containers on the host are not touched."
        confirmLabel="Delete"
        destructive
        requireText={node.name}
        pending={remove.isPending}
        onConfirm={() => remove.mutate()}
      >
        {deleteBlock && (
          <div className="space-y-2" data-testid="node-delete-blocked">
            <FormError>{deleteBlock.message}</FormError>
            {deleteBlock.services.length > 0 && (
              <div className="text-sm">
                <p className="text-muted-foreground">Move or delete these services first:</p>
                <ul className="mt-1 list-disc space-y-0.5 pl-5">
                  {deleteBlock.services.map((s) => (
                    <li key={`${s.id ?? ""}-${s.name}`}>
                      {s.id !== null ? (
                        <Link to={`/services/${s.id}`} className="font-medium hover:underline">
                          {s.name}
                        </Link>
                      ) : (
                        <span className="font-medium">{s.name}</span>
                      )}
                    </li>
                  ))}
                </ul>
              </div>
            )}
            {deleteBlock.code === "node_in_use" && node.status === "offline" && node.kind === "agent" && (
              <label className="flex items-start gap-2 text-sm" data-testid="node-delete-forget">
                <Checkbox checked={forget} onChange={(e) => setForget(e.target.checked)} className="mt-0.5" />
                <span>
                  The host is gone for good: also remove its services from Dockyard. Their containers are not touched; this
                  can't be undone.
                </span>
              </label>
            )}
          </div>
        )}
      </ConfirmDialog>

      {enrollment && (
        <EnrollmentDialog title={enrollment.title} description={enrollment.description} enrollment={enrollment.value} onClose={() => setEnrollment(null)} />
      )}
    </div>
  );
}
