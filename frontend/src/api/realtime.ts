/**
 * The one WebSocket to the server: live events and log streams.
 *
 * - Connects with a fresh single-use ticket (`POST /api/v1/realtime/ticket`, Bearer auth)
 *   to `ws(s)://<host>/api/v1/ws?ticket=...`; the first server frame is `{"type":"hello"}`.
 * - Reconnects with jittered exponential backoff, with a new ticket every time.
 * - Sends `{"type":"ping"}` every 25 s (and answers the server's pings); a connection
 *   silent for two intervals is dropped.
 * - Dispatches every event frame to subscribers; `logs.line` / `logs.lines` frames go to
 *   the log stream with that id (`followLogs`), which is re-requested after a reconnect.
 * - If the ticket endpoint does not exist (404/405), the client goes "unavailable" and
 *   probes again every few minutes; the app polls instead.
 */
import { session } from "./session";

export type RealtimeStatus = "idle" | "connecting" | "live" | "reconnecting" | "unavailable";

export interface RealtimeEvent {
  type: string;
  data?: Record<string, unknown>;
  ts?: string;
  [key: string]: unknown;
}

export interface LogFrameLine {
  container: string;
  stream: string;
  ts: string | null;
  message: string;
}

export interface FollowRequest {
  node_id: number;
  container_ids: string[];
  tail: number;
}

export interface FollowHandlers {
  /** A (re)subscription was sent: the next lines replace what is shown. */
  onStart?: () => void;
  onLines: (lines: LogFrameLine[]) => void;
  /** The server could not stream (one container's `logs.error`, or a refused follow). */
  onError?: (message: string, container: string | null) => void;
}

/** The parts of a WebSocket the client uses (a fake in tests). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type TicketResult = { ticket: string } | "unavailable";

export interface RealtimeDeps {
  getTicket: () => Promise<TicketResult>;
  createSocket: (url: string) => SocketLike;
  socketUrl: (ticket: string) => string;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
  now: () => number;
  random: () => number;
}

export const PING_INTERVAL_MS = 25_000;
export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
export const UNAVAILABLE_RETRY_MS = 5 * 60_000;
export const HANDSHAKE_TIMEOUT_MS = 15_000;
const OPEN = 1;

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, "equal jitter". */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(exp / 2 + random() * (exp / 2));
}

export class RealtimeClient {
  private status: RealtimeStatus = "idle";
  private socket: SocketLike | null = null;
  private running = false;
  private attempt = 0;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private handshakeTimer: unknown = null;
  private lastMessageAt = 0;
  /** Bumped on every connect/stop so stale callbacks of an old socket do nothing. */
  private generation = 0;
  private readonly listeners = new Set<(e: RealtimeEvent) => void>();
  private readonly statusListeners = new Set<() => void>();
  private readonly follows = new Map<string, { req: FollowRequest; handlers: FollowHandlers }>();
  private followSeq = 0;
  /** True once a connection was lost: the next "hello" means events may have been missed. */
  private hadConnection = false;

  constructor(private readonly deps: RealtimeDeps) {}

  getStatus = (): RealtimeStatus => this.status;

  /** For useSyncExternalStore. */
  subscribeStatus = (fn: () => void): (() => void) => {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  };

  /** Every event frame (`hello`, `pong` and log frames excluded). */
  subscribe(fn: (e: RealtimeEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private setStatus(s: RealtimeStatus): void {
    if (this.status === s) return;
    this.status = s;
    for (const l of this.statusListeners) l();
  }

  private emit(e: RealtimeEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        console.error("[dockyard] realtime listener failed", err);
      }
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation += 1;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try {
        s.close(1000, "client stopped");
      } catch {
        /* ignore */
      }
    }
    this.hadConnection = false;
    this.setStatus("idle");
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.deps.clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) this.deps.clearTimeout(this.pingTimer);
    if (this.handshakeTimer !== null) this.deps.clearTimeout(this.handshakeTimer);
    this.retryTimer = null;
    this.pingTimer = null;
    this.handshakeTimer = null;
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.setStatus(this.hadConnection || this.attempt > 0 ? "reconnecting" : "connecting");
    let ticket: TicketResult;
    try {
      ticket = await this.deps.getTicket();
    } catch {
      if (gen === this.generation && this.running) this.scheduleReconnect();
      return;
    }
    if (gen !== this.generation || !this.running) return;
    if (ticket === "unavailable") {
      this.setStatus("unavailable");
      this.retryTimer = this.deps.setTimeout(() => {
        this.retryTimer = null;
        if (this.running) void this.connect();
      }, UNAVAILABLE_RETRY_MS);
      return;
    }
    let socket: SocketLike;
    try {
      socket = this.deps.createSocket(this.deps.socketUrl(ticket.ticket));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev) => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.deps.now();
      this.handleFrame(ev.data);
    };
    socket.onclose = () => {
      if (gen !== this.generation) return;
      this.socket = null;
      this.clearTimers();
      if (this.running) this.scheduleReconnect();
    };
    socket.onerror = () => {
      /* onclose follows */
    };
    socket.onopen = () => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.deps.now();
      this.schedulePing(gen);
    };
    this.handshakeTimer = this.deps.setTimeout(() => {
      this.handshakeTimer = null;
      if (gen === this.generation && this.status !== "live") this.drop("no hello");
    }, HANDSHAKE_TIMEOUT_MS);
  }

  /** Abandons the current socket (it is not answering) and reconnects. */
  private drop(reason: string): void {
    const s = this.socket;
    this.socket = null;
    this.generation += 1;
    this.clearTimers();
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try {
        s.close(4000, reason);
      } catch {
        /* ignore */
      }
    }
    if (this.running) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.setStatus("reconnecting");
    const delay = backoffDelay(this.attempt, this.deps.random);
    this.attempt += 1;
    if (this.retryTimer !== null) this.deps.clearTimeout(this.retryTimer);
    this.retryTimer = this.deps.setTimeout(() => {
      this.retryTimer = null;
      if (this.running) void this.connect();
    }, delay);
  }

  private schedulePing(gen: number): void {
    this.pingTimer = this.deps.setTimeout(() => {
      this.pingTimer = null;
      if (gen !== this.generation || !this.socket) return;
      if (this.deps.now() - this.lastMessageAt > 2 * PING_INTERVAL_MS + 5_000) {
        // Silent for too long (a dead proxy or laptop sleep): start over.
        this.drop("ping timeout");
        return;
      }
      this.sendFrame({ type: "ping" });
      this.schedulePing(gen);
    }, PING_INTERVAL_MS);
  }

  private sendFrame(frame: Record<string, unknown>): boolean {
    const s = this.socket;
    if (!s || s.readyState !== OPEN) return false;
    try {
      s.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  private handleFrame(raw: unknown): void {
    if (typeof raw !== "string") return;
    let frame: RealtimeEvent;
    try {
      frame = JSON.parse(raw) as RealtimeEvent;
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    switch (frame.type) {
      case "hello": {
        if (this.handshakeTimer !== null) this.deps.clearTimeout(this.handshakeTimer);
        this.handshakeTimer = null;
        const missed = this.hadConnection;
        this.attempt = 0;
        this.hadConnection = true;
        this.setStatus("live");
        for (const [id, f] of this.follows) this.sendFollow(id, f.req, f.handlers);
        // After a gap, events may have been lost: treat it like an overflow.
        if (missed) this.emit({ type: "overflow", data: { reason: "reconnected" } });
        return;
      }
      case "pong":
        return;
      case "ping":
        this.sendFrame({ type: "pong" });
        return;
      case "logs.error":
      case "error": {
        const f = frame.id !== undefined ? this.follows.get(String(frame.id)) : undefined;
        if (f) {
          f.handlers.onError?.(typeof frame.message === "string" ? frame.message : "Log stream failed", typeof frame.container === "string" ? frame.container : null);
        } else if (frame.type === "error") {
          console.warn("[dockyard] realtime error", frame);
        }
        return;
      }
      case "logs.started":
      case "logs.end":
      case "logs.stopped":
      case "subscribed":
        return;
      case "logs.line": {
        const f = this.follows.get(String(frame.id));
        if (f) f.handlers.onLines([toLogLine(frame)]);
        return;
      }
      case "logs.lines": {
        const f = this.follows.get(String(frame.id));
        if (f && Array.isArray(frame.lines)) f.handlers.onLines((frame.lines as unknown[]).map(toLogLine));
        return;
      }
      default:
        this.emit(frame);
    }
  }

  private sendFollow(id: string, req: FollowRequest, handlers: FollowHandlers): void {
    if (this.sendFrame({ type: "logs.follow", id, node_id: req.node_id, container_ids: req.container_ids, tail: req.tail })) {
      handlers.onStart?.();
    }
  }

  /**
   * Streams the logs of some containers. The stream is (re)requested whenever the socket
   * is live, so it survives reconnects. Returns the function that stops it.
   */
  followLogs(req: FollowRequest, handlers: FollowHandlers): () => void {
    const id = `logs-${++this.followSeq}-${Math.round(this.deps.random() * 1e9).toString(36)}`;
    this.follows.set(id, { req, handlers });
    if (this.status === "live") this.sendFollow(id, req, handlers);
    return () => {
      if (!this.follows.delete(id)) return;
      this.sendFrame({ type: "logs.stop", id });
    };
  }
}

function toLogLine(raw: unknown): LogFrameLine {
  const r = (raw ?? {}) as Record<string, unknown>;
  return {
    container: typeof r.container === "string" ? r.container : "",
    stream: typeof r.stream === "string" ? r.stream : "stdout",
    ts: typeof r.ts === "string" ? r.ts : null,
    message: typeof r.message === "string" ? r.message : String(r.message ?? ""),
  };
}

// ---------------------------------------------------------------- browser wiring

export const TICKET_PATH = "/api/v1/realtime/ticket";
export const WS_PATH = "/api/v1/ws";

export async function fetchTicket(): Promise<TicketResult> {
  const res = await session.fetch(
    new Request(new URL(TICKET_PATH, window.location.origin), { method: "POST", headers: { Accept: "application/json" } }),
  );
  if (res.status === 404 || res.status === 405) return "unavailable";
  if (!res.ok) throw new Error(`ticket request failed: HTTP ${res.status}`);
  const body = (await res.json()) as { ticket?: unknown };
  if (typeof body.ticket !== "string" || !body.ticket) throw new Error("ticket missing in the answer");
  return { ticket: body.ticket };
}

export function wsOrigin(loc: Pick<Location, "protocol" | "host"> = window.location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`;
}

export const realtime = new RealtimeClient({
  getTicket: fetchTicket,
  createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
  socketUrl: (ticket) => `${wsOrigin()}${WS_PATH}?ticket=${encodeURIComponent(ticket)}`,
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
  random: () => Math.random(),
});
