import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Download, FileUp, GitCompare, History, Loader2, RotateCcw, SearchCheck, Upload } from "lucide-react";
import { useEffect, useId, useMemo, useState, type ChangeEvent } from "react";
import { toast } from "sonner";
import { downloadAuthenticated } from "@/api/client";
import { configApi, useSnapshotDiff, useSnapshots, type ChangeOut, type ImportResult, type SnapshotOut } from "@/api/config";
import { isApiError } from "@/api/errors";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Textarea } from "@/components/ui/textarea";
import { formatDateTime, orDash } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";

const CHANGE_TONE = { added: "success", changed: "warning", removed: "danger" } as const;
const SOURCE_TONE = { ui: "accent", api: "neutral", import: "success", rollback: "warning", system: "neutral" } as const;

function ChangesTable({ changes, testId }: { changes: ChangeOut[]; testId: string }) {
  if (changes.length === 0) {
    return (
      <p className="text-sm text-muted-foreground" data-testid={`${testId}-empty`}>
        No differences: nothing would change.
      </p>
    );
  }
  return (
    <Table data-testid={testId}>
      <TableHeader>
        <TableRow>
          <TableHead>Kind</TableHead>
          <TableHead>Object</TableHead>
          <TableHead>Change</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {changes.map((c) => (
          <TableRow key={`${c.kind}/${c.name}`} data-testid="change-row">
            <TableCell className="font-mono text-xs">{c.kind}</TableCell>
            <TableCell className="font-mono text-xs">{c.name}</TableCell>
            <TableCell>
              <Badge tone={CHANGE_TONE[c.change]}>{c.change}</Badge>
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

/** The error of a failed import: its message and each invalid path. */
function ImportError({ error }: { error: unknown }) {
  const message = error instanceof Error ? error.message : String(error);
  const errors = isApiError(error) && Array.isArray(error.details?.errors) ? (error.details.errors as { path: string; message: string }[]) : [];
  return (
    <div role="alert" data-testid="import-error" className="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/60 dark:text-red-300">
      <p className="font-medium">{message}</p>
      {errors.length > 0 && (
        <ul className="mt-1 list-disc pl-5 font-mono text-xs">
          {errors.map((e) => (
            <li key={`${e.path}:${e.message}`}>
              {e.path}: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function ImportCard() {
  const queryClient = useQueryClient();
  const ids = useId();
  const [text, setText] = useState("");
  const [prune, setPrune] = useState(false);
  const [plan, setPlan] = useState<ImportResult | null>(null);
  useEffect(() => setPlan(null), [text, prune]);

  const preview = useMutation({
    mutationFn: () => configApi.importYaml(text, { dryRun: true, prune }),
    onSuccess: (result) => setPlan(result),
    meta: { toast: () => false },
  });
  const apply = useMutation({
    mutationFn: () => configApi.importYaml(text, { dryRun: false, prune }),
    onSuccess: (result) => {
      toast(`Applied ${result.changes.length} change(s)`);
      setPlan(null);
      void queryClient.invalidateQueries();
    },
    meta: { toast: () => false },
  });

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (file) setText(await file.text());
    e.target.value = "";
  };

  return (
    <Card data-testid="config-import">
      <CardHeader>
        <CardTitle>Import</CardTitle>
        <CardDescription>
          Paste or upload a YAML document, preview the changes (a dry run), then apply them. An import is all or nothing: one invalid object and nothing is applied.
        </CardDescription>
      </CardHeader>
      <CardContent className="space-y-4">
        <Textarea
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={"version: 1\nkinds:\n  hosts:\n    - hostname: web-1.example.com\n      address: 10.0.0.1"}
          rows={10}
          spellCheck={false}
          className="font-mono text-xs"
          aria-label="Configuration YAML"
          data-testid="config-import-text"
        />
        <div className="flex flex-wrap items-center gap-3">
          <Button variant="outline" asChild>
            <label htmlFor={`${ids}-file`} className="cursor-pointer">
              <FileUp /> Upload file
              <input id={`${ids}-file`} type="file" accept=".yaml,.yml,application/yaml,text/yaml" className="sr-only" onChange={(e) => void onFile(e)} data-testid="config-import-file" />
            </label>
          </Button>
          <div className="flex items-center gap-2">
            <Checkbox id={`${ids}-prune`} checked={prune} onChange={(e) => setPrune(e.target.checked)} data-testid="config-import-prune" />
            <Label htmlFor={`${ids}-prune`}>Remove objects the document lacks (prune)</Label>
          </div>
          <div className="flex-1" />
          <Button onClick={() => preview.mutate()} disabled={!text.trim() || preview.isPending} data-testid="config-preview">
            {preview.isPending ? <Loader2 className="animate-spin" /> : <SearchCheck />} Preview changes
          </Button>
        </div>
        {preview.isError && <ImportError error={preview.error} />}
        {apply.isError && <ImportError error={apply.error} />}
        {plan && (
          <div className="space-y-3" data-testid="config-plan">
            <h3 className="text-sm font-semibold">Dry run: {plan.changes.length} change(s)</h3>
            <ChangesTable changes={plan.changes} testId="plan-changes" />
            {plan.changes.length > 0 && (
              <Button onClick={() => apply.mutate()} disabled={apply.isPending} data-testid="config-apply">
                {apply.isPending ? <Loader2 className="animate-spin" /> : <Upload />} Apply {plan.changes.length} change(s)
              </Button>
            )}
          </div>
        )}
      </CardContent>
    </Card>
  );
}

function DiffText({ diff }: { diff: string }) {
  if (!diff) return null;
  return (
    <pre className="max-h-[28rem] overflow-auto rounded-md border bg-muted/40 p-3 font-mono text-xs leading-5" data-testid="snapshot-diff-text">
      {diff.split("\n").map((line, i) => {
        const tone = line.startsWith("+") && !line.startsWith("+++") ? "text-emerald-700 dark:text-emerald-300" : line.startsWith("-") && !line.startsWith("---") ? "text-red-700 dark:text-red-300" : line.startsWith("@@") ? "text-sky-700 dark:text-sky-300" : "";
        return (
          <div key={i} className={tone}>
            {line || " "}
          </div>
        );
      })}
    </pre>
  );
}

function SnapshotsCard() {
  const snapshots = useSnapshots();
  const queryClient = useQueryClient();
  const items = useMemo(() => snapshots.data?.items ?? [], [snapshots.data]);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [target, setTarget] = useState<SnapshotOut | null>(null);
  const [seenLatest, setSeenLatest] = useState<number | null>(null);
  // Compare the two newest snapshots by default, again whenever a new one appears.
  useEffect(() => {
    const [latest, previous] = items;
    if (latest && previous && latest.id !== seenLatest) {
      setSeenLatest(latest.id);
      setFrom(previous.id);
      setTo(latest.id);
    }
  }, [items, seenLatest]);
  const diff = useSnapshotDiff(from, to);
  const rollback = useMutation({
    mutationFn: (id: number) => configApi.rollback(id),
    onSuccess: (result) => {
      toast(`Rolled back: ${result.changes.length} change(s) applied`);
      setTarget(null);
      void queryClient.invalidateQueries();
    },
  });

  let body;
  if (snapshots.isError) {
    body = <ErrorState error={snapshots.error} title="Couldn't load the snapshots" onRetry={() => void snapshots.refetch()} />;
  } else if (snapshots.isPending) {
    body = <Skeleton className="h-24 w-full" />;
  } else if (items.length === 0) {
    body = <EmptyState icon={History} title="No snapshots yet" description="A snapshot is recorded after every configuration change." />;
  } else {
    body = (
      <Table data-testid="snapshots-table">
        <TableHeader>
          <TableRow>
            <TableHead>#</TableHead>
            <TableHead>When</TableHead>
            <TableHead>Source</TableHead>
            <TableHead>Who</TableHead>
            <TableHead>Changes</TableHead>
            <TableHead className="text-right">Actions</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {items.map((s, index) => (
            <TableRow key={s.id} data-testid="snapshot-row" data-snapshot-id={s.id}>
              <TableCell className="font-mono text-xs">{s.id}</TableCell>
              <TableCell className="whitespace-nowrap text-xs">{formatDateTime(s.created_at)}</TableCell>
              <TableCell>
                <Badge tone={SOURCE_TONE[s.source]}>{s.source}</Badge>
              </TableCell>
              <TableCell className="text-xs">{orDash(s.actor_label)}</TableCell>
              <TableCell className="max-w-md truncate text-xs text-muted-foreground" title={s.summary}>
                {s.summary || (s.parent_id === null ? "First snapshot" : "—")}
              </TableCell>
              <TableCell className="text-right">
                <div className="flex justify-end gap-1">
                  <Button variant="ghost" size="sm" onClick={() => void downloadAuthenticated(`/api/v1/config/snapshots/${s.id}`, `dockyard-config-${s.id}.yaml`).catch((err: unknown) => toast.error(err instanceof Error ? err.message : "Download failed"))}>
                    <Download /> YAML
                  </Button>
                  {index > 0 && (
                    <Button variant="outline" size="sm" onClick={() => setTarget(s)} data-testid="snapshot-rollback">
                      <RotateCcw /> Roll back to this
                    </Button>
                  )}
                </div>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    );
  }

  return (
    <Card data-testid="config-snapshots">
      <CardHeader>
        <CardTitle>Snapshots</CardTitle>
        <CardDescription>Every configuration change (from the UI, the API, an import or a rollback) records a snapshot of the whole document.</CardDescription>
      </CardHeader>
      <CardContent className="space-y-5">
        {body}
        {items.length >= 2 && (
          <div className="space-y-3" data-testid="snapshot-compare">
            <div className="flex flex-wrap items-end gap-3">
              <GitCompare className="mb-2 size-4 text-muted-foreground" />
              <div className="space-y-1">
                <Label htmlFor="diff-from">From</Label>
                <NativeSelect id="diff-from" value={from ?? ""} onChange={(e) => setFrom(Number(e.target.value))} data-testid="diff-from">
                  {items.map((s) => (
                    <option key={s.id} value={s.id}>
                      #{s.id} · {formatDateTime(s.created_at)}
                    </option>
                  ))}
                </NativeSelect>
              </div>
              <div className="space-y-1">
                <Label htmlFor="diff-to">To</Label>
                <NativeSelect id="diff-to" value={to ?? ""} onChange={(e) => setTo(Number(e.target.value))} data-testid="diff-to">
                  {items.map((s) => (
                    <option key={s.id} value={s.id}>
                      #{s.id} · {formatDateTime(s.created_at)}
                    </option>
                  ))}
                </NativeSelect>
              </div>
            </div>
            {from === to ? (
              <p className="text-sm text-muted-foreground">Pick two different snapshots to compare.</p>
            ) : diff.isError ? (
              <ErrorState error={diff.error} title="Couldn't compare the snapshots" />
            ) : diff.isPending ? (
              <Skeleton className="h-20 w-full" />
            ) : (
              <div className="space-y-3" data-testid="snapshot-diff">
                <ChangesTable changes={diff.data.changes} testId="diff-changes" />
                <DiffText diff={diff.data.diff} />
              </div>
            )}
          </div>
        )}
      </CardContent>
      <ConfirmDialog
        open={target !== null}
        onOpenChange={(o) => !o && setTarget(null)}
        title={`Roll back to snapshot #${target?.id ?? ""}?`}
        description="The configuration is set back to this snapshot: objects created since are removed (services with a delete job), changed ones restored. The rollback is recorded as a new snapshot."
        confirmLabel="Roll back"
        destructive
        pending={rollback.isPending}
        onConfirm={() => {
          if (target) rollback.mutate(target.id);
        }}
      />
    </Card>
  );
}

export function ConfigPage() {
  usePageTitle("Configuration");
  const [exporting, setExporting] = useState(false);
  const exportYaml = async () => {
    setExporting(true);
    try {
      await downloadAuthenticated("/api/v1/config/export", "dockyard-config.yaml");
    } catch (err) {
      toast.error(err instanceof Error ? err.message : "Export failed");
    } finally {
      setExporting(false);
    }
  };
  return (
    <div className="space-y-6">
      <PageHeader
        description="The whole configuration — services, templates, hosts, nodes, roles, registries, alerts, health checks, MCP servers — as one YAML document. Secrets are exported by reference only."
        actions={
          <Button onClick={() => void exportYaml()} disabled={exporting} data-testid="config-export">
            {exporting ? <Loader2 className="animate-spin" /> : <Download />} Export YAML
          </Button>
        }
      />
      <ImportCard />
      <SnapshotsCard />
    </div>
  );
}
