import { useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { AlertTriangle, Loader2, Regex, ScrollText, Search, Square } from "lucide-react";
import { memo, useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { errorToast } from "@/api/errors";
import { useServices } from "@/api/serviceQueries";
import { EmptyState } from "@/components/EmptyState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { ToggleButton } from "@/components/ui/checkbox";
import { Input, NativeSelect } from "@/components/ui/input";
import { stripAnsi } from "@/lib/ansi";
import { formatBytes } from "@/lib/format";
import { containerColor, formatLogTimestamp } from "@/lib/logs";
import { usePageTitle } from "@/lib/pageTitle";
import { cn } from "@/lib/utils";
import { fleetApi, searchLogs, type LogSearchItem, type LogSearchMatch, type LogSearchSummary } from "./fleet/api";
import { highlight } from "./fleet/highlight";
import { insertionIndex, LIMIT_OPTIONS, RANGE_PRESETS, resolveRange } from "./fleet/search";

const ROW_HEIGHT = 22;

interface Row extends LogSearchMatch {
  id: number;
  text: string;
}

type Phase = { kind: "idle" } | { kind: "running" } | { kind: "done"; summary: LogSearchSummary | null; cancelled: boolean } | { kind: "failed"; message: string };

const ResultLine = memo(function ResultLine({ row, query, regex }: { row: Row; query: string; regex: boolean }) {
  const parts = highlight(row.text, query, regex);
  return (
    <div className={cn("flex gap-3 px-3 whitespace-pre hover:bg-white/[0.04]", row.stream === "stderr" && "border-l-2 border-red-500/60 pl-[10px]")} data-testid="search-result">
      <span className="shrink-0 text-zinc-500 select-none" title={row.ts ?? undefined}>
        {formatLogTimestamp(row.ts ?? null)}
      </span>
      <span className="w-20 shrink-0 truncate text-zinc-400 select-none" title={`node ${row.node_name}`}>
        {row.node_name}
      </span>
      <Link
        to={`/containers/${row.node_id}/${row.container_id}`}
        className="w-60 shrink-0 truncate select-none hover:underline"
        style={{ color: containerColor(row.container) }}
        title={row.service_name ? `${row.container} (service ${row.service_name})` : row.container}
      >
        {row.container}
      </Link>
      <span className="min-w-0">
        {parts.map((p, i) => (
          <span key={i} className={p.mark ? "rounded-[2px] bg-amber-300 text-zinc-950" : undefined}>
            {p.text}
          </span>
        ))}
      </span>
    </div>
  );
});

function SummaryBar({ phase, count, query }: { phase: Phase; count: number; query: string }) {
  if (phase.kind === "idle") return null;
  if (phase.kind === "failed") {
    return (
      <p role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid="search-error">
        {phase.message}
      </p>
    );
  }
  if (phase.kind === "running") {
    return (
      <p className="flex items-center gap-2 text-sm text-muted-foreground" aria-live="polite" data-testid="search-status">
        <Loader2 className="size-3.5 animate-spin" /> Searching… {count.toLocaleString("en-US")} match{count === 1 ? "" : "es"} so far
      </p>
    );
  }
  const s = phase.summary;
  return (
    <div className="space-y-2 text-sm" aria-live="polite" data-testid="search-status">
      <p className="flex flex-wrap items-center gap-x-3 gap-y-1 text-muted-foreground">
        <span className="font-medium text-foreground">
          {count.toLocaleString("en-US")} match{count === 1 ? "" : "es"} for “{query}”
        </span>
        {s && (
          <span>
            in {s.containers_searched} of {s.containers_total} container{s.containers_total === 1 ? "" : "s"} · {formatBytes(s.scanned_bytes)} read · {(s.elapsed_ms / 1000).toFixed(1)} s
          </span>
        )}
        {phase.cancelled && <Badge tone="neutral">cancelled</Badge>}
        {s?.limit_reached && <Badge tone="warning">limit reached: narrow the search to see more</Badge>}
        {s && s.truncated_containers.length > 0 && (
          <Badge tone="warning" title={s.truncated_containers.join(", ")}>
            {s.truncated_containers.length} container log{s.truncated_containers.length === 1 ? "" : "s"} only partly read
          </Badge>
        )}
      </p>
      {s && s.errors.length > 0 && (
        <ul className="rounded-lg border border-amber-200 bg-amber-50 px-4 py-2 text-amber-900 dark:border-amber-900 dark:bg-amber-950/50 dark:text-amber-200" data-testid="search-node-errors">
          {s.errors.map((e, i) => (
            <li key={i} className="flex items-start gap-2">
              <AlertTriangle className="mt-0.5 size-4 shrink-0" />
              <span>
                <span className="font-medium">{e.container ? `${e.node_name} / ${e.container}` : e.node_name}</span>: {e.error}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function LogSearchPage() {
  usePageTitle("Log search");
  const [params, setParams] = useSearchParams();
  const [q, setQ] = useState(params.get("q") ?? "");
  const [regex, setRegex] = useState(params.get("regex") === "true");
  const [preset, setPreset] = useState(params.get("range") ?? "1h");
  const [since, setSince] = useState(params.get("since") ?? "");
  const [until, setUntil] = useState(params.get("until") ?? "");
  const [node, setNode] = useState(params.get("node") ?? "");
  const [service, setService] = useState(params.get("service") ?? "");
  const [container, setContainer] = useState(params.get("container") ?? "");
  const [limit, setLimit] = useState(Number(params.get("limit")) || 500);
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [shownQuery, setShownQuery] = useState({ q: "", regex: false });
  const [version, setVersion] = useState(0);

  const rows = useRef<Row[]>([]);
  const nextId = useRef(1);
  const abort = useRef<AbortController | null>(null);
  const frame = useRef<number | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);

  const nodes = useQuery({ queryKey: ["fleet", "nodes"], queryFn: ({ signal }) => fleetApi.list({ limit: 1 }, signal), staleTime: 60_000 });
  const services = useServices("", false);

  const bump = useCallback(() => {
    frame.current = null;
    setVersion((v) => v + 1);
  }, []);

  const onItems = useCallback(
    (items: LogSearchItem[]) => {
      let summary: LogSearchSummary | null = null;
      for (const item of items) {
        if (item.type === "summary") {
          summary = item as LogSearchSummary;
          continue;
        }
        const match = item as LogSearchMatch;
        const row: Row = { ...match, id: nextId.current++, text: stripAnsi(match.line) };
        const list = rows.current;
        list.splice(insertionIndex(list, row.ts), 0, row);
      }
      frame.current ??= requestAnimationFrame(bump);
      if (summary) setPhase({ kind: "done", summary, cancelled: false });
    },
    [bump],
  );

  const run = useCallback(
    async (form: { q: string; regex: boolean; preset: string; since: string; until: string; node: string; service: string; container: string; limit: number }) => {
      abort.current?.abort();
      const range = resolveRange(form.preset, { since: form.since, until: form.until });
      if ("error" in range) {
        setPhase({ kind: "failed", message: range.error });
        return;
      }
      const controller = new AbortController();
      abort.current = controller;
      rows.current = [];
      setVersion((v) => v + 1);
      setShownQuery({ q: form.q, regex: form.regex });
      setPhase({ kind: "running" });
      try {
        await searchLogs(
          {
            q: form.q,
            regex: form.regex,
            since: range.since,
            until: range.until,
            node_id: Number(form.node) || undefined,
            service_id: Number(form.service) || undefined,
            container: form.container || undefined,
            limit: form.limit,
          },
          onItems,
          controller.signal,
        );
        // A stream that ended without its summary (server gone) still shows what came.
        setPhase((p) => (p.kind === "running" ? { kind: "done", summary: null, cancelled: false } : p));
      } catch (err) {
        if (controller.signal.aborted) {
          setPhase((p) => (p.kind === "running" ? { kind: "done", summary: null, cancelled: true } : p));
          return;
        }
        setPhase({ kind: "failed", message: errorToast(err).message });
      } finally {
        if (abort.current === controller) abort.current = null;
      }
    },
    [onItems],
  );

  // Stop reading when the page goes away.
  useEffect(() => () => abort.current?.abort(), []);

  // A link with `q` (e.g. from elsewhere in the app) runs the search at once.
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    if (q.trim()) void run({ q: q.trim(), regex, preset, since, until, node, service, container, limit });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const query = q.trim();
    if (!query) return;
    const next = new URLSearchParams();
    next.set("q", query);
    if (regex) next.set("regex", "true");
    next.set("range", preset);
    if (preset === "custom") {
      if (since) next.set("since", since);
      if (until) next.set("until", until);
    }
    if (node) next.set("node", node);
    if (service) next.set("service", service);
    if (container) next.set("container", container);
    if (limit !== 500) next.set("limit", String(limit));
    setParams(next, { replace: true });
    void run({ q: query, regex, preset, since, until, node, service, container, limit });
  };

  const cancel = () => abort.current?.abort();

  const list = rows.current;
  const virtualizer = useVirtualizer({
    count: list.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 30,
    getItemKey: (i) => list[i]?.id ?? i,
  });
  void version;
  const running = phase.kind === "running";

  return (
    <div className="space-y-4">
      <PageHeader description="Search the logs of every container on every node, for a time range." />
      <Card className="p-4">
        <form onSubmit={submit} className="space-y-3" role="search" aria-label="Search logs">
          <div className="flex flex-col gap-2 sm:flex-row">
            <div className="relative flex-1">
              <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" />
              <Input
                placeholder={regex ? "Regular expression, e.g. error|timeout" : "Text to find (case-insensitive)"}
                aria-label="Search text"
                className="pl-8 font-mono"
                value={q}
                onChange={(e) => setQ(e.target.value)}
                maxLength={1000}
                data-testid="log-search-query"
                autoFocus
              />
            </div>
            <ToggleButton pressed={regex} onPressedChange={setRegex} data-testid="log-search-regex" className="h-9">
              <Regex /> Regex
            </ToggleButton>
            {running ? (
              <Button type="button" variant="outline" onClick={cancel} data-testid="log-search-cancel">
                <Square className="fill-current" /> Cancel
              </Button>
            ) : (
              <Button type="submit" disabled={!q.trim()} data-testid="log-search-submit">
                <Search /> Search
              </Button>
            )}
          </div>
          <div className="flex flex-col gap-2 md:flex-row md:flex-wrap md:items-center">
            <NativeSelect aria-label="Time range" className="md:w-44" value={preset} onChange={(e) => setPreset(e.target.value)} data-testid="log-search-range">
              {RANGE_PRESETS.map((p) => (
                <option key={p.value} value={p.value}>
                  {p.label}
                </option>
              ))}
              <option value="custom">Custom range…</option>
            </NativeSelect>
            {preset === "custom" && (
              <>
                <Input type="datetime-local" step={1} aria-label="From" className="md:w-52" value={since} onChange={(e) => setSince(e.target.value)} data-testid="log-search-since" />
                <Input type="datetime-local" step={1} aria-label="Until (empty: now)" className="md:w-52" value={until} onChange={(e) => setUntil(e.target.value)} data-testid="log-search-until" />
              </>
            )}
            <NativeSelect aria-label="Node" className="md:w-40" value={node} onChange={(e) => setNode(e.target.value)} data-testid="log-search-node">
              <option value="">All nodes</option>
              {(nodes.data?.nodes ?? []).map((n) => (
                <option key={n.node_id} value={n.node_id}>
                  {n.name}
                </option>
              ))}
            </NativeSelect>
            <NativeSelect aria-label="Service" className="md:w-44" value={service} onChange={(e) => setService(e.target.value)} data-testid="log-search-service">
              <option value="">All services</option>
              {(services.data?.items ?? []).map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </NativeSelect>
            <Input placeholder="Container name or id" aria-label="Container" className="md:w-48" value={container} onChange={(e) => setContainer(e.target.value)} data-testid="log-search-container" />
            <NativeSelect aria-label="Maximum matches" className="md:w-36" value={limit} onChange={(e) => setLimit(Number(e.target.value))} data-testid="log-search-limit">
              {LIMIT_OPTIONS.map((n) => (
                <option key={n} value={n}>
                  Max {n.toLocaleString("en-US")}
                </option>
              ))}
            </NativeSelect>
          </div>
        </form>
      </Card>

      <SummaryBar phase={phase} count={list.length} query={shownQuery.q} />

      {phase.kind === "idle" ? (
        <EmptyState icon={ScrollText} title="Search every log at once" description="Type some text (or a regular expression), pick a time range and optionally a node or service. Matches stream in as they are found." />
      ) : list.length > 0 || running ? (
        <div className="overflow-hidden rounded-lg border border-zinc-800 bg-zinc-950 text-zinc-200 shadow-xs">
          <div ref={scrollRef} className="max-h-[calc(100svh-20rem)] min-h-24 overflow-auto py-2 font-mono text-[12.5px]" style={{ lineHeight: `${ROW_HEIGHT}px` }} role="log" aria-label="Search results" data-testid="log-search-results" tabIndex={0}>
            {list.length === 0 ? (
              <p className="flex items-center gap-2 px-3 text-zinc-500">
                <Loader2 className="size-3.5 animate-spin" /> Waiting for the first match…
              </p>
            ) : (
              <div className="relative" style={{ height: virtualizer.getTotalSize(), minWidth: "100%" }}>
                {virtualizer.getVirtualItems().map((item) => (
                  <div key={item.key} className="absolute top-0 left-0 min-w-full" style={{ transform: `translateY(${item.start}px)`, height: ROW_HEIGHT }}>
                    <ResultLine row={list[item.index]!} query={shownQuery.q} regex={shownQuery.regex} />
                  </div>
                ))}
              </div>
            )}
          </div>
        </div>
      ) : phase.kind === "done" ? (
        <EmptyState icon={Search} title="No matches" description="Nothing in that time range matched. Try a wider range or other words." />
      ) : null}
    </div>
  );
}
