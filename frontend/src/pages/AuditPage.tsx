import { useMutation } from "@tanstack/react-query";
import { Check, Copy, Download, FilterX, Loader2, ScrollText, SearchX } from "lucide-react";
import { useEffect, useMemo, useState, type KeyboardEvent } from "react";
import { useSearchParams } from "react-router";
import { downloadAuthenticated } from "@/api/client";
import { useAuditEvents } from "@/api/queries";
import type { AuditEvent } from "@/api/types";
import { actorKind, actorText, targetText } from "@/components/AuditList";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { KeyValueGrid } from "@/components/KeyValue";
import { OutcomePill } from "@/components/Pills";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Sheet, SheetContent, SheetDescription, SheetHeader, SheetTitle } from "@/components/ui/sheet";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import {
  AUDIT_OUTCOMES,
  EMPTY_AUDIT_FILTERS,
  exportSearch,
  filtersFromSearchParams,
  filtersToSearchParams,
  hasActiveFilters,
  isoToLocalInput,
  localInputToIso,
  sameFilters,
  type AuditFilters,
} from "@/lib/auditFilters";
import { formatDateTime, formatUtc, orDash } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";

const TEXT_DEBOUNCE_MS = 400;

function useAuditFilterState() {
  const [searchParams, setSearchParams] = useSearchParams();
  const queryString = searchParams.toString();
  const applied = useMemo(() => filtersFromSearchParams(new URLSearchParams(queryString)), [queryString]);
  const [draft, setDraft] = useState<AuditFilters>(applied);

  // URL -> form (back/forward, links, "Clear filters").
  useEffect(() => {
    setDraft((d) => (sameFilters(d, applied) ? d : applied));
  }, [applied]);

  // Form -> URL, debounced for typing.
  useEffect(() => {
    if (sameFilters(draft, applied)) return;
    const t = setTimeout(() => setSearchParams(filtersToSearchParams(draft), { replace: true }), TEXT_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, applied, setSearchParams]);

  const update = (patch: Partial<AuditFilters>, immediate = false) => {
    const next = { ...draft, ...patch };
    setDraft(next);
    if (immediate) setSearchParams(filtersToSearchParams(next), { replace: true });
  };
  const clear = () => {
    setDraft(EMPTY_AUDIT_FILTERS);
    setSearchParams(new URLSearchParams(), { replace: true });
  };
  return { applied, draft, update, clear };
}

function FilterBar({ draft, update, clear }: { draft: AuditFilters; update: (p: Partial<AuditFilters>, immediate?: boolean) => void; clear: () => void }) {
  return (
    <form
      className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4 2xl:grid-cols-8"
      role="search"
      aria-label="Filter audit events"
      onSubmit={(e) => {
        e.preventDefault();
        update({}, true);
      }}
    >
      <div className="space-y-1">
        <Label htmlFor="f-actor">Actor</Label>
        <Input id="f-actor" placeholder="Email or id" value={draft.actor} onChange={(e) => update({ actor: e.target.value })} data-testid="audit-filter-actor" />
      </div>
      <div className="space-y-1">
        <Label htmlFor="f-action">Action prefix</Label>
        <Input id="f-action" placeholder="e.g. auth." className="font-mono" spellCheck={false} value={draft.action} onChange={(e) => update({ action: e.target.value })} data-testid="audit-filter-action" />
      </div>
      <div className="space-y-1">
        <Label htmlFor="f-target-type">Target type</Label>
        <Input id="f-target-type" placeholder="e.g. user" value={draft.target_type} onChange={(e) => update({ target_type: e.target.value })} data-testid="audit-filter-target-type" />
      </div>
      <div className="space-y-1">
        <Label htmlFor="f-target-id">Target ID</Label>
        <Input id="f-target-id" placeholder="Any" value={draft.target_id} onChange={(e) => update({ target_id: e.target.value })} data-testid="audit-filter-target-id" />
      </div>
      <div className="space-y-1">
        <Label htmlFor="f-outcome">Outcome</Label>
        <NativeSelect
          id="f-outcome"
          value={draft.outcome}
          onChange={(e) => update({ outcome: e.target.value as AuditFilters["outcome"] }, true)}
          data-testid="audit-filter-outcome"
        >
          <option value="">Any outcome</option>
          {AUDIT_OUTCOMES.map((o) => (
            <option key={o} value={o}>{o[0]!.toUpperCase() + o.slice(1)}</option>
          ))}
        </NativeSelect>
      </div>
      <div className="col-span-2 space-y-1 max-sm:order-1 sm:col-span-1">
        <Label htmlFor="f-since">Since</Label>
        <Input id="f-since" type="datetime-local" value={isoToLocalInput(draft.since)} onChange={(e) => update({ since: localInputToIso(e.target.value) }, true)} data-testid="audit-filter-since" />
      </div>
      <div className="col-span-2 space-y-1 max-sm:order-1 sm:col-span-1">
        <Label htmlFor="f-until">Until</Label>
        <Input id="f-until" type="datetime-local" value={isoToLocalInput(draft.until)} onChange={(e) => update({ until: localInputToIso(e.target.value) }, true)} data-testid="audit-filter-until" />
      </div>
      {/* On phones Clear sits beside Outcome; the date inputs (order-1) take full rows below. */}
      <div className="flex items-end">
        <Button type="button" variant="ghost" className="w-full text-muted-foreground" onClick={clear} disabled={!hasActiveFilters(draft)} data-testid="audit-filter-clear">
          <FilterX /> Clear
        </Button>
      </div>
      <button type="submit" hidden aria-hidden tabIndex={-1} />
    </form>
  );
}

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <Button
      variant="ghost"
      size="sm"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? <Check /> : <Copy />} {copied ? "Copied" : "Copy"}
    </Button>
  );
}

function EventSheet({ event, onClose }: { event: AuditEvent | null; onClose: () => void }) {
  const json = event ? JSON.stringify(event.details ?? {}, null, 2) : "";
  return (
    <Sheet open={event !== null} onOpenChange={(open) => !open && onClose()}>
      <SheetContent data-testid="audit-detail">
        {event && (
          <>
            <SheetHeader>
              <SheetTitle className="flex flex-wrap items-center gap-2">
                <Badge tone="mono" className="text-sm">{event.action}</Badge>
                <OutcomePill outcome={event.outcome} />
              </SheetTitle>
              <SheetDescription>
                Event #{event.id} · {formatDateTime(event.ts)}
                <span className="block font-mono text-[11px]">{formatUtc(event.ts)}</span>
              </SheetDescription>
            </SheetHeader>
            <div className="flex-1 space-y-5 overflow-y-auto px-5 py-4">
              <KeyValueGrid
                className="sm:grid-cols-1"
                items={[
                  { label: "Actor", value: actorText(event) },
                  { label: "Actor type", value: event.actor_type },
                  { label: "Actor ID", value: orDash(event.actor_id), mono: true },
                  { label: "Target", value: targetText(event), mono: true },
                  { label: "IP address", value: orDash(event.ip), mono: true },
                  { label: "Request ID", value: orDash(event.request_id), mono: true },
                  { label: "User agent", value: orDash(event.user_agent) },
                ]}
              />
              <div>
                <div className="mb-1.5 flex items-center justify-between">
                  <h3 className="text-xs font-medium text-muted-foreground">Details</h3>
                  <CopyButton text={json} />
                </div>
                {/* Rendered as text, never as HTML. */}
                <pre data-testid="audit-detail-json" className="max-h-[50vh] overflow-auto rounded-md border bg-muted/50 p-3 font-mono text-xs leading-5 whitespace-pre-wrap break-all">
                  {json}
                </pre>
              </div>
            </div>
          </>
        )}
      </SheetContent>
    </Sheet>
  );
}

function AuditTable({ events, onOpen }: { events: AuditEvent[]; onOpen: (e: AuditEvent) => void }) {
  const onKey = (e: KeyboardEvent, ev: AuditEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onOpen(ev);
    }
  };
  return (
    <Table data-testid="audit-table">
      <TableHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead>Time</TableHead>
          <TableHead>Actor</TableHead>
          <TableHead>Action</TableHead>
          <TableHead>Target</TableHead>
          <TableHead>Outcome</TableHead>
          <TableHead>IP</TableHead>
          <TableHead>Request ID</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {events.map((ev) => (
          <TableRow
            key={ev.id}
            data-testid="audit-row"
            tabIndex={0}
            className="cursor-pointer focus-visible:bg-muted/60 focus-visible:outline-none"
            onClick={() => onOpen(ev)}
            onKeyDown={(e) => onKey(e, ev)}
          >
            <TableCell className="whitespace-nowrap tabular-nums">
              <time dateTime={ev.ts} title={formatUtc(ev.ts)}>{formatDateTime(ev.ts)}</time>
            </TableCell>
            <TableCell className="max-w-56 truncate" title={actorText(ev)}>
              {actorText(ev)}
              {actorKind(ev) && <span className="ml-1.5 text-xs text-muted-foreground">({actorKind(ev)})</span>}
            </TableCell>
            <TableCell><Badge tone="mono">{ev.action}</Badge></TableCell>
            <TableCell className="max-w-56 truncate font-mono text-xs" title={targetText(ev)}>{targetText(ev)}</TableCell>
            <TableCell><OutcomePill outcome={ev.outcome} /></TableCell>
            <TableCell className="font-mono text-xs whitespace-nowrap">{orDash(ev.ip)}</TableCell>
            <TableCell className="max-w-40 truncate font-mono text-xs text-muted-foreground" title={ev.request_id ?? undefined}>
              {orDash(ev.request_id)}
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

export function AuditPage() {
  usePageTitle("Audit");
  const { applied, draft, update, clear } = useAuditFilterState();
  const audit = useAuditEvents(applied);
  const [selected, setSelected] = useState<AuditEvent | null>(null);
  const events = useMemo(() => audit.data?.pages.flatMap((p) => p.items) ?? [], [audit.data]);

  const exportMutation = useMutation({
    mutationFn: (format: "csv" | "jsonl") =>
      downloadAuthenticated(`/api/v1/audit/export?${exportSearch(applied, format)}`, `dockyard-audit.${format}`),
  });
  const exporting = exportMutation.isPending ? exportMutation.variables : null;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <p className="text-sm text-muted-foreground">Every sign-in, change and denied request, newest first.</p>
        <div className="flex gap-2">
          <Button variant="outline" size="sm" onClick={() => exportMutation.mutate("csv")} disabled={exporting !== null} data-testid="audit-export-csv">
            {exporting === "csv" ? <Loader2 className="animate-spin" /> : <Download />} Export CSV
          </Button>
          <Button variant="outline" size="sm" onClick={() => exportMutation.mutate("jsonl")} disabled={exporting !== null} data-testid="audit-export-jsonl">
            {exporting === "jsonl" ? <Loader2 className="animate-spin" /> : <Download />} Export JSONL
          </Button>
        </div>
      </div>

      <Card className="p-4">
        <FilterBar draft={draft} update={update} clear={clear} />
      </Card>

      {audit.isPending ? (
        <Card className="space-y-3 p-5">
          {Array.from({ length: 8 }, (_, i) => <Skeleton key={i} className="h-8 w-full" />)}
        </Card>
      ) : audit.isError && events.length === 0 ? (
        <ErrorState error={audit.error} title="Couldn't load audit events" onRetry={() => void audit.refetch()} />
      ) : events.length === 0 ? (
        hasActiveFilters(applied) ? (
          <EmptyState
            icon={SearchX}
            title="No matching events"
            description="No audit events match these filters. Widen the time range or clear the filters."
            action={<Button variant="outline" onClick={clear}><FilterX /> Clear filters</Button>}
          />
        ) : (
          <EmptyState icon={ScrollText} title="No audit events yet" description="Sign-ins, configuration changes and denied requests will be recorded here." />
        )
      ) : (
        <>
          <Card className="overflow-hidden">
            <AuditTable events={events} onOpen={setSelected} />
          </Card>
          <div className="flex flex-col items-center gap-2 pt-1">
            <p className="text-xs text-muted-foreground" data-testid="audit-count">
              Showing {events.length} event{events.length === 1 ? "" : "s"}
              {audit.hasNextPage ? "" : " · end of log"}
            </p>
            {audit.hasNextPage && (
              <Button variant="outline" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage} data-testid="audit-load-more">
                {audit.isFetchingNextPage && <Loader2 className="animate-spin" />} Load more
              </Button>
            )}
          </div>
        </>
      )}
      <EventSheet event={selected} onClose={() => setSelected(null)} />
    </div>
  );
}
