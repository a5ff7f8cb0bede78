import { useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ArrowDownToLine, Clock, Download, Eraser, Loader2, Radio, Search, WrapText } from "lucide-react";
import { memo, useCallback, useEffect, useMemo, useRef, useState, type CSSProperties } from "react";
import { downloadAuthenticated } from "@/api/client";
import { showErrorToast } from "@/api/queryClient";
import { realtime } from "@/api/realtime";
import { useRealtimeStatus } from "@/api/realtimeQueries";
import { serviceKeys } from "@/api/serviceQueries";
import { servicesApi } from "@/api/services";
import type { ServiceDetail } from "@/api/types";
import { Button } from "@/components/ui/button";
import { ToggleButton } from "@/components/ui/checkbox";
import { Input, NativeSelect } from "@/components/ui/input";
import { Tip } from "@/components/ui/tooltip";
import { ansiCss } from "@/lib/ansi";
import {
  containerColor,
  filterEntries,
  findMatches,
  formatLogTimestamp,
  LOG_BUFFER_CAP,
  LOG_TAIL_OPTIONS,
  LogBuffer,
  markSegments,
  shortContainerName,
  type LogEntry,
  type RawLogLine,
} from "@/lib/logs";
import { useMediaQuery } from "@/lib/useMediaQuery";
import { cn } from "@/lib/utils";

const ROW_HEIGHT = 20;

interface LineProps {
  compact: boolean;
  entry: LogEntry;
  query: string;
  showTs: boolean;
  showContainer: boolean;
  serviceName: string;
  wrap: boolean;
}

/** One log line: text nodes in styled spans, never HTML. */
const LogLineView = memo(function LogLineView({ entry, query, showTs, showContainer, serviceName, wrap, compact }: LineProps) {
  const parts = query ? markSegments(entry.segments, findMatches(entry.text, query)) : entry.segments.map((s) => ({ ...s, mark: false }));
  return (
    <div
      className={cn(
        "flex gap-3 px-3 hover:bg-white/[0.04]",
        wrap ? "whitespace-pre-wrap" : "whitespace-pre",
        entry.stream === "stderr" && "border-l-2 border-red-500/60 pl-[10px]",
      )}
      data-testid="log-line"
      data-stream={entry.stream}
    >
      {showTs && entry.ts && (
        <span className="shrink-0 text-zinc-500 select-none" title={entry.ts}>
          {formatLogTimestamp(entry.ts, compact)}
        </span>
      )}
      {showContainer && (
        <span className={cn("shrink-0 truncate select-none", compact ? "w-20" : "w-28")} style={{ color: containerColor(entry.container) }} title={entry.container}>
          {shortContainerName(entry.container, serviceName)}
        </span>
      )}
      <span className={cn("min-w-0", wrap && "break-all")}>
        {parts.length === 0 ? " " : parts.map((p, i) => (
          <span key={i} style={ansiCss(p.style) as CSSProperties | undefined} className={p.mark ? "rounded-[2px] bg-amber-300 text-zinc-950" : undefined}>
            {p.text}
          </span>
        ))}
      </span>
    </div>
  );
});

export function LogsTab({ service }: { service: ServiceDetail }) {
  const [tail, setTail] = useState<number>(100);
  const [container, setContainer] = useState("");
  const [queryInput, setQueryInput] = useState("");
  const [query, setQuery] = useState("");
  const [wrap, setWrap] = useState(false);
  const [showTs, setShowTs] = useState(true);
  const [follow, setFollow] = useState(true);
  const [version, setVersion] = useState(0);
  const [atBottom, setAtBottom] = useState(true);
  const [downloading, setDownloading] = useState(false);
  const rt = useRealtimeStatus();
  const compact = !useMediaQuery("(min-width: 640px)");
  const streaming = follow && rt === "live";

  const bufferRef = useRef(new LogBuffer(LOG_BUFFER_CAP));
  const buffer = bufferRef.current;
  const pending = useRef<RawLogLine[]>([]);
  const resetOnNext = useRef(false);
  const streamed = useRef(false);
  const frame = useRef<number | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const t = setTimeout(() => setQuery(queryInput), 150);
    return () => clearTimeout(t);
  }, [queryInput]);

  // --- snapshot over HTTP (also the fallback while the WebSocket is down) ------------
  const logs = useQuery({
    queryKey: serviceKeys.logs(service.id, tail, container),
    queryFn: ({ signal }) => servicesApi.logs(service.id, { tail, container: container || undefined, timestamps: true }, signal),
    staleTime: Infinity,
    refetchOnWindowFocus: false,
    refetchInterval: follow && !streaming ? 3_000 : false,
  });

  useEffect(() => {
    if (!logs.data) return;
    if (streaming && streamed.current) return; // the stream is newer than this snapshot
    buffer.replace(logs.data.lines);
    setVersion((v) => v + 1);
  }, [logs.data, streaming, buffer]);

  // --- live stream over the WebSocket --------------------------------------------------
  const containerIds = useMemo(
    () => service.containers.filter((c) => !container || c.name === container).map((c) => c.id),
    [service.containers, container],
  );
  const idsKey = containerIds.join(",");

  const flush = useCallback(() => {
    frame.current = null;
    const lines = pending.current;
    pending.current = [];
    if (resetOnNext.current) {
      resetOnNext.current = false;
      buffer.clear();
    }
    if (lines.length) buffer.push(lines, { byTime: true });
    setVersion((v) => v + 1);
  }, [buffer]);

  // Stream frames name containers by id; show names like the HTTP snapshot does.
  const nameById = useMemo(() => new Map(service.containers.map((c) => [c.id, c.name])), [service.containers]);
  const nameByIdRef = useRef(nameById);
  nameByIdRef.current = nameById;
  const [streamError, setStreamError] = useState<string | null>(null);

  useEffect(() => {
    if (!streaming || !idsKey) return;
    streamed.current = false;
    setStreamError(null);
    const ids = idsKey.split(",");
    // The server takes at most 10 containers per stream.
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += 10) chunks.push(ids.slice(i, i + 10));
    const stops = chunks.map((chunk) =>
      realtime.followLogs(
        { node_id: service.node_id, container_ids: chunk, tail },
        {
          onStart: () => {
            // The server re-sends the last `tail` lines: they replace what is shown.
            resetOnNext.current = true;
            pending.current = [];
          },
          onLines: (lines) => {
            streamed.current = true;
            for (const l of lines) pending.current.push({ ...l, container: nameByIdRef.current.get(l.container) ?? l.container });
            frame.current ??= requestAnimationFrame(flush);
          },
          onError: (message, containerId) => {
            const who = containerId ? nameByIdRef.current.get(containerId) ?? containerId.slice(0, 12) : null;
            setStreamError(who ? `${who}: ${message}` : message);
          },
        },
      ),
    );
    return () => {
      for (const stop of stops) stop();
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
      pending.current = [];
      streamed.current = false;
    };
  }, [streaming, idsKey, tail, service.node_id, flush]);

  // --- view -------------------------------------------------------------------------------
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const visible = useMemo(() => filterEntries(buffer.toArray(), query), [version, query, buffer]);
  const multiContainer = new Set(service.containers.map((c) => c.name)).size > 1 && !container;

  const virtualizer = useVirtualizer({
    count: visible.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 30,
    getItemKey: (i) => visible[i]?.id ?? i,
  });

  useEffect(() => {
    virtualizer.measure();
  }, [wrap, showTs, virtualizer]);

  // Stick to the newest line while the user is at the bottom.
  useEffect(() => {
    if (atBottom && visible.length) virtualizer.scrollToIndex(visible.length - 1, { align: "end" });
  }, [visible, atBottom, virtualizer]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 2;
    if (bottom !== atBottom) setAtBottom(bottom);
  };

  const download = async () => {
    setDownloading(true);
    try {
      await downloadAuthenticated(
        servicesApi.logsDownloadUrl(service.id, { tail, container: container || undefined, timestamps: showTs }),
        `${service.name}.log`,
      );
    } catch (err) {
      showErrorToast(err);
    } finally {
      setDownloading(false);
    }
  };

  const containerNames = [...new Set(service.containers.map((c) => c.name))];
  const total = buffer.size;
  const items = virtualizer.getVirtualItems();

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <div className="relative min-w-48 flex-1 sm:max-w-72">
          <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" />
          <Input
            type="search"
            placeholder="Filter lines"
            aria-label="Filter log lines"
            className="h-8 pl-8"
            value={queryInput}
            onChange={(e) => setQueryInput(e.target.value)}
            data-testid="logs-search"
          />
        </div>
        <NativeSelect aria-label="Lines to load" className="h-8 w-auto text-xs" value={tail} onChange={(e) => setTail(Number(e.target.value))} data-testid="logs-tail">
          {LOG_TAIL_OPTIONS.map((n) => (
            <option key={n} value={n}>
              Last {n.toLocaleString("en-US")}
            </option>
          ))}
        </NativeSelect>
        {containerNames.length > 1 && (
          <NativeSelect aria-label="Container" className="h-8 w-auto max-w-48 text-xs" value={container} onChange={(e) => setContainer(e.target.value)} data-testid="logs-container">
            <option value="">All containers</option>
            {containerNames.map((n) => (
              <option key={n} value={n}>
                {shortContainerName(n, service.name)}
              </option>
            ))}
          </NativeSelect>
        )}
        <div className="flex flex-wrap items-center gap-1.5 sm:ml-auto">
          <Tip content={rt === "live" ? "Stream new lines as they are written" : "Refresh every 3 seconds (live streaming is unavailable)"}>
            <ToggleButton pressed={follow} onPressedChange={setFollow} data-testid="logs-follow">
              <Radio className={cn(streaming && "text-emerald-500")} /> Follow
            </ToggleButton>
          </Tip>
          <ToggleButton pressed={wrap} onPressedChange={setWrap} data-testid="logs-wrap">
            <WrapText /> Wrap
          </ToggleButton>
          <ToggleButton pressed={showTs} onPressedChange={setShowTs} data-testid="logs-timestamps">
            <Clock /> Time
          </ToggleButton>
          <Tip content="Clear the view (the logs stay on the server)">
            <Button
              variant="outline"
              size="sm"
              className="h-8 text-xs"
              aria-label="Clear the view"
              onClick={() => {
                buffer.clear();
                setVersion((v) => v + 1);
              }}
            >
              <Eraser />
            </Button>
          </Tip>
          <Tip content="Download these lines as a text file">
            <Button variant="outline" size="sm" className="h-8 text-xs" onClick={() => void download()} disabled={downloading} data-testid="logs-download" aria-label="Download logs">
              {downloading ? <Loader2 className="animate-spin" /> : <Download />}
              <span className="max-sm:sr-only">Download</span>
            </Button>
          </Tip>
        </div>
      </div>

      <div className="relative overflow-hidden rounded-lg border border-zinc-800 bg-zinc-950 text-zinc-200 shadow-xs dark:border-zinc-800">
        <div
          ref={scrollRef}
          onScroll={onScroll}
          className="h-[calc(100svh-22rem)] min-h-80 overflow-auto py-2 font-mono text-[12.5px]"
          style={{ lineHeight: `${ROW_HEIGHT}px` }}
          data-testid="logs-view"
          role="log"
          aria-label={`Logs of ${service.name}`}
          tabIndex={0}
        >
          {logs.isPending && total === 0 ? (
            <p className="flex items-center gap-2 px-3 text-zinc-500">
              <Loader2 className="size-3.5 animate-spin" /> Loading logs…
            </p>
          ) : logs.isError && total === 0 ? (
            <p className="px-3 text-red-400">Couldn't load the logs: {logs.error.message}</p>
          ) : service.containers.length === 0 && total === 0 ? (
            <p className="px-3 text-zinc-500">No containers yet: deploy the service to see its logs.</p>
          ) : visible.length === 0 ? (
            <p className="px-3 text-zinc-500">{total === 0 ? "No log output yet." : "No lines match the filter."}</p>
          ) : (
            <div className="relative" style={{ height: virtualizer.getTotalSize(), minWidth: "100%" }}>
              {items.map((item) => {
                const entry = visible[item.index]!;
                return (
                  <div
                    key={item.key}
                    data-index={item.index}
                    ref={wrap ? virtualizer.measureElement : undefined}
                    className={cn("absolute top-0 left-0", wrap ? "w-full" : "min-w-full")}
                    style={{ transform: `translateY(${item.start}px)`, height: wrap ? undefined : ROW_HEIGHT }}
                  >
                    <LogLineView compact={compact} entry={entry} query={query} showTs={showTs} showContainer={multiContainer} serviceName={service.name} wrap={wrap} />
                  </div>
                );
              })}
            </div>
          )}
        </div>
        {!atBottom && visible.length > 0 && (
          <Button
            size="sm"
            className="absolute right-4 bottom-4 h-8 shadow-lg"
            onClick={() => {
              setAtBottom(true);
              virtualizer.scrollToIndex(visible.length - 1, { align: "end" });
            }}
          >
            <ArrowDownToLine /> Latest
          </Button>
        )}
      </div>
      <p className="flex flex-wrap items-center gap-x-3 text-xs text-muted-foreground" aria-live="polite">
        <span>
          {query ? `${visible.length.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} lines match` : `${total.toLocaleString("en-US")} lines`}
        </span>
        {buffer.dropped > 0 && <span>· oldest {buffer.dropped.toLocaleString("en-US")} dropped (keeps {LOG_BUFFER_CAP.toLocaleString("en-US")})</span>}
        {streaming && (
          <span className="inline-flex items-center gap-1 text-emerald-700 dark:text-emerald-400">
            <span className="size-1.5 animate-pulse rounded-full bg-emerald-500" /> streaming
          </span>
        )}
        {follow && !streaming && <span>· refreshing every 3 s</span>}
        {streaming && streamError && <span className="text-amber-700 dark:text-amber-400">· {streamError}</span>}
      </p>
    </div>
  );
}
