import { useMutation, useQueryClient } from "@tanstack/react-query";
import { AlertTriangle, Loader2 } from "lucide-react";
import { useEffect, useId, useMemo, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { nodesApi, type Enrollment, type NodeCreated, type NodeView } from "@/api/nodes";
import { queryKeys } from "@/api/queries";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";
import { EnrollmentPanel } from "./EnrollmentPanel";
import { labelsToText, nodeNameError, parseLabels, sameLabels } from "./nodeFormat";

export function FormError({ children, testId }: { children: string | null; testId?: string }) {
  if (!children) return null;
  return (
    <div role="alert" data-testid={testId} className="flex gap-2 rounded-md border border-destructive/30 bg-destructive/10 px-3 py-2 text-sm text-destructive dark:text-red-300">
      <AlertTriangle className="mt-0.5 size-4 shrink-0" />
      <span className="min-w-0 break-words">{children}</span>
    </div>
  );
}

/** Field errors from a 422 (`details.errors[].path/message`), as one readable string. */
export function errorText(err: unknown, fallback: string): string {
  if (!isApiError(err)) return fallback;
  const list = err.details?.errors;
  if (err.status === 422 && Array.isArray(list) && list.length) {
    const parts = list
      .map((e) => (e && typeof e === "object" ? (e as { path?: unknown; message?: unknown }) : null))
      .filter((e): e is { path?: unknown; message?: unknown } => e !== null && typeof e.message === "string")
      .map((e) => (typeof e.path === "string" && e.path ? `${e.path}: ${String(e.message)}` : String(e.message)));
    if (parts.length) return parts.join(" · ");
  }
  return err.message || fallback;
}

function NameAndLabels({
  ids,
  name,
  setName,
  labels,
  setLabels,
  labelErrors,
}: {
  ids: string;
  name: string;
  setName: (v: string) => void;
  labels: string;
  setLabels: (v: string) => void;
  labelErrors: string[];
}) {
  const nameError = nodeNameError(name);
  return (
    <>
      <div className="space-y-1.5">
        <Label htmlFor={`${ids}-name`}>Name</Label>
        <Input
          id={`${ids}-name`}
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={128}
          autoComplete="off"
          spellCheck={false}
          placeholder="edge-01"
          aria-invalid={nameError ? true : undefined}
          data-testid="node-form-name"
        />
        {nameError && (
          <p className="text-xs text-destructive dark:text-red-300" data-testid="node-form-name-error">
            {nameError}
          </p>
        )}
      </div>
      <div className="space-y-1.5">
        <Label htmlFor={`${ids}-labels`}>Labels</Label>
        <Textarea
          id={`${ids}-labels`}
          value={labels}
          onChange={(e) => setLabels(e.target.value)}
          rows={4}
          spellCheck={false}
          autoCapitalize="off"
          placeholder={"zone=eu-west\ngpu=true"}
          className="font-mono text-[13px]"
          aria-invalid={labelErrors.length > 0 || undefined}
          aria-describedby={`${ids}-labels-help`}
          data-testid="node-form-labels"
        />
        {labelErrors.length ? (
          <ul className="space-y-0.5 text-xs text-destructive dark:text-red-300" data-testid="node-form-label-errors">
            {labelErrors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        ) : (
          <p id={`${ids}-labels-help`} className="text-xs text-muted-foreground">
            One <span className="font-mono">key=value</span> per line. Placement constraints match on them.
          </p>
        )}
      </div>
    </>
  );
}

/** Add an agent node: name and labels, then the one-time enrollment token and command. */
export function AddNodeDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [name, setName] = useState("");
  const [labels, setLabels] = useState("");
  const [created, setCreated] = useState<NodeCreated | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const parsed = useMemo(() => parseLabels(labels), [labels]);

  useEffect(() => {
    if (open) return;
    setName("");
    setLabels("");
    setCreated(null);
    setFormError(null);
  }, [open]);

  const create = useMutation({
    mutationFn: () => nodesApi.create({ name: name.trim(), labels: parsed.labels }),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 409 || err.status === 422)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Adding the node failed.")),
    onSuccess: (node) => {
      setCreated(node);
      void queryClient.invalidateQueries({ queryKey: queryKeys.nodes });
    },
  });

  const canSubmit = name.trim() !== "" && !nodeNameError(name) && parsed.errors.length === 0 && !create.isPending;
  return (
    <Dialog open={open} onOpenChange={(o) => !create.isPending && onOpenChange(o)}>
      <DialogContent className="max-w-2xl" data-testid="add-node-dialog" onInteractOutside={(e) => created && e.preventDefault()}>
        <DialogHeader>
          <DialogTitle>{created ? `Enroll the agent on ${created.name}` : "Add a node"}</DialogTitle>
          <DialogDescription>
            {created
              ? "Run the command on the Docker host. The node shows as online once its agent connects."
              : "A node is a Docker host reached through the Dockyard agent, which dials out to this server."}
          </DialogDescription>
        </DialogHeader>
        {created ? (
          <DialogBody>
            <EnrollmentPanel enrollment={created} />
          </DialogBody>
        ) : (
          <form
            id={`${ids}-form`}
            onSubmit={(e) => {
              e.preventDefault();
              if (canSubmit) create.mutate();
            }}
          >
            <DialogBody className="space-y-4">
              <NameAndLabels ids={ids} name={name} setName={setName} labels={labels} setLabels={setLabels} labelErrors={parsed.errors.map((e) => e.message)} />
              <FormError testId="node-form-error">{formError}</FormError>
            </DialogBody>
          </form>
        )}
        <DialogFooter>
          {created ? (
            <Button onClick={() => onOpenChange(false)} data-testid="add-node-done">
              I copied it
            </Button>
          ) : (
            <>
              <Button variant="outline" onClick={() => onOpenChange(false)} disabled={create.isPending}>
                Cancel
              </Button>
              <Button type="submit" form={`${ids}-form`} disabled={!canSubmit} data-testid="add-node-submit">
                {create.isPending && <Loader2 className="animate-spin" />} Add node
              </Button>
            </>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

/** Rename a node and edit its labels (PATCH sends only what changed). */
export function EditNodeDialog({ node, open, onOpenChange }: { node: NodeView; open: boolean; onOpenChange: (o: boolean) => void }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [name, setName] = useState(node.name);
  const [labels, setLabels] = useState(() => labelsToText(node.labels));
  const [formError, setFormError] = useState<string | null>(null);
  const parsed = useMemo(() => parseLabels(labels), [labels]);

  useEffect(() => {
    if (!open) return;
    setName(node.name);
    setLabels(labelsToText(node.labels));
    setFormError(null);
    // Only when the dialog opens: a background refetch must not wipe the user's edits.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);

  const nameChanged = name.trim() !== node.name;
  const labelsChanged = !sameLabels(parsed.labels, node.labels);
  const save = useMutation({
    mutationFn: () => nodesApi.update(node.id, { ...(nameChanged ? { name: name.trim() } : {}), ...(labelsChanged ? { labels: parsed.labels } : {}) }),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 409 || err.status === 422)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Saving failed.")),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: queryKeys.nodes });
      toast(`Saved ${saved?.name ?? name.trim()}`);
      onOpenChange(false);
    },
  });
  const canSubmit = name.trim() !== "" && !nodeNameError(name) && parsed.errors.length === 0 && (nameChanged || labelsChanged) && !save.isPending;

  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="edit-node-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (canSubmit) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>Edit {node.name}</DialogTitle>
            <DialogDescription>Labels describe the node for placement (for example a zone or a GPU). Services already running stay where they are.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <NameAndLabels ids={ids} name={name} setName={setName} labels={labels} setLabels={setLabels} labelErrors={parsed.errors.map((e) => e.message)} />
            <FormError testId="node-form-error">{formError}</FormError>
          </DialogBody>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={!canSubmit} data-testid="edit-node-save">
              {save.isPending && <Loader2 className="animate-spin" />} Save
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

/** Shows a freshly issued token (new enrollment token, or rotation of an offline agent). */
export function EnrollmentDialog({
  title,
  description,
  enrollment,
  onClose,
}: {
  title: string;
  description: string;
  enrollment: Enrollment | null;
  onClose: () => void;
}) {
  return (
    <Dialog open={enrollment !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent className="max-w-2xl" data-testid="enrollment-dialog" onInteractOutside={(e) => e.preventDefault()}>
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription>{description}</DialogDescription>
        </DialogHeader>
        <DialogBody>{enrollment && <EnrollmentPanel enrollment={enrollment} />}</DialogBody>
        <DialogFooter>
          <Button onClick={onClose} data-testid="enrollment-done">
            I copied it
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
