import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it, vi } from "vitest";
import {
  backoffDelay,
  BACKOFF_MAX_MS,
  HANDSHAKE_TIMEOUT_MS,
  PING_INTERVAL_MS,
  RealtimeClient,
  UNAVAILABLE_RETRY_MS,
  wsOrigin,
  type RealtimeDeps,
  type RealtimeEvent,
  type SocketLike,
  type TicketResult,
} from "./realtime";
import { bindRealtimeToQueryClient, createCoalescer, invalidationsFor } from "./realtimeQueries";
import { jobKeys, serviceKeys } from "./serviceQueries";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closed: { code?: number } | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code?: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code?: number) {
    this.closed = { code };
    this.readyState = 3;
  }
  // --- test helpers
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

/** Fake timers + sockets + tickets, driven by hand. */
function harness(tickets: (() => Promise<TicketResult>)[] = []) {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const sockets: FakeSocket[] = [];
  let ticketCalls = 0;
  const deps: RealtimeDeps = {
    getTicket: () => {
      const n = ticketCalls;
      const f = tickets[n] ?? (() => Promise.resolve({ ticket: `t${n}` }));
      ticketCalls += 1;
      return f();
    },
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    socketUrl: (t) => `ws://test/api/v1/ws?ticket=${t}`,
    setTimeout: (fn, ms) => {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    now: () => now,
    random: () => 0.5,
  };
  const client = new RealtimeClient(deps);
  const flush = () => new Promise<void>((r) => setTimeout(r, 0));
  /** Advances the clock, firing due timers in order. */
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
      await flush();
    }
    now = end;
    await flush();
  };
  return { client, sockets, advance, flush, ticketCalls: () => ticketCalls, pendingTimers: () => timers.size };
}

async function connected(h: ReturnType<typeof harness>) {
  h.client.start();
  await h.flush();
  const s = h.sockets.at(-1)!;
  s.open();
  s.frame({ type: "hello" });
  return s;
}

describe("backoffDelay", () => {
  it("grows exponentially with jitter and a cap", () => {
    expect(backoffDelay(0, () => 0)).toBe(500);
    expect(backoffDelay(0, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 0.5)).toBe(6000);
    expect(backoffDelay(20, () => 1)).toBe(BACKOFF_MAX_MS);
    expect(backoffDelay(20, () => 0)).toBe(BACKOFF_MAX_MS / 2);
  });
});

describe("RealtimeClient", () => {
  it("connects with a ticket and goes live on hello", async () => {
    const h = harness();
    const statuses: string[] = [];
    h.client.subscribeStatus(() => statuses.push(h.client.getStatus()));
    h.client.start();
    expect(h.client.getStatus()).toBe("connecting");
    await h.flush();
    expect(h.sockets[0]!.url).toBe("ws://test/api/v1/ws?ticket=t0");
    h.sockets[0]!.open();
    expect(h.client.getStatus()).toBe("connecting");
    h.sockets[0]!.frame({ type: "hello" });
    expect(statuses).toEqual(["connecting", "live"]);
  });

  it("dispatches events to subscribers, not hello/pong", async () => {
    const h = harness();
    const events: RealtimeEvent[] = [];
    h.client.subscribe((e) => events.push(e));
    const s = await connected(h);
    s.frame({ type: "pong" });
    s.frame({ type: "service.status", data: { service_id: 3 }, ts: "x" });
    s.onmessage?.({ data: "not json" });
    s.frame({ nope: 1 });
    expect(events).toEqual([{ type: "service.status", data: { service_id: 3 }, ts: "x" }]);
  });

  it("reconnects with backoff and a fresh ticket, then reports missed events", async () => {
    const h = harness();
    const events: string[] = [];
    h.client.subscribe((e) => events.push(e.type));
    const s1 = await connected(h);
    s1.drop();
    expect(h.client.getStatus()).toBe("reconnecting");
    await h.advance(749);
    expect(h.ticketCalls()).toBe(1);
    await h.advance(1); // first retry after 750 ms (1 s with 0.5 jitter)
    expect(h.ticketCalls()).toBe(2);
    expect(h.sockets).toHaveLength(2);
    expect(h.sockets[1]!.url).toContain("ticket=t1");
    h.sockets[1]!.open();
    h.sockets[1]!.frame({ type: "hello" });
    expect(h.client.getStatus()).toBe("live");
    expect(events).toEqual(["overflow"]); // refetch what may have been missed
  });

  it("reconnects after the server closes with 1001 (shutting down) once it is back", async () => {
    const down = () => Promise.reject(new TypeError("Failed to fetch"));
    const h = harness([() => Promise.resolve({ ticket: "t0" }), down, down]);
    const events: string[] = [];
    h.client.subscribe((e) => events.push(e.type));
    const s1 = await connected(h);
    s1.drop(1001); // "server shutting down": a restart, or a replica going away
    expect(h.client.getStatus()).toBe("reconnecting");
    await h.advance(750); // the server is still down: the ticket request fails
    await h.advance(1500); // ... and again
    expect(h.ticketCalls()).toBe(3);
    expect(h.sockets).toHaveLength(1);
    await h.advance(3000); // it is back
    expect(h.ticketCalls()).toBe(4);
    expect(h.sockets).toHaveLength(2);
    h.sockets[1]!.open();
    h.sockets[1]!.frame({ type: "hello" });
    expect(h.client.getStatus()).toBe("live");
    expect(events).toEqual(["overflow"]); // refetch what changed meanwhile
  });

  it("backs off further on repeated failures and resets after success", async () => {
    const fail = () => Promise.reject(new Error("down"));
    const h = harness([fail, fail, fail]);
    h.client.start();
    await h.flush();
    expect(h.client.getStatus()).toBe("reconnecting");
    await h.advance(750); // attempt 0: 750 ms
    expect(h.ticketCalls()).toBe(2);
    await h.advance(1499); // attempt 1: 1500 ms
    expect(h.ticketCalls()).toBe(2);
    await h.advance(1);
    expect(h.ticketCalls()).toBe(3);
    await h.advance(3000); // attempt 2: 3000 ms -> 4th call succeeds
    expect(h.ticketCalls()).toBe(4);
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ type: "hello" });
    h.sockets[0]!.drop();
    await h.advance(750); // back to the first delay
    expect(h.ticketCalls()).toBe(5);
  });

  it("pings every 25 s and drops a silent connection", async () => {
    const h = harness();
    const s = await connected(h);
    await h.advance(PING_INTERVAL_MS);
    expect(s.sent).toEqual([{ type: "ping" }]);
    s.frame({ type: "pong" });
    await h.advance(PING_INTERVAL_MS);
    expect(s.sent).toHaveLength(2);
    // No answer for more than two intervals: the socket is abandoned.
    await h.advance(PING_INTERVAL_MS * 2);
    expect(s.closed).not.toBeNull();
    expect(h.client.getStatus()).toBe("reconnecting");
  });

  it("gives up on a socket that never says hello", async () => {
    const h = harness();
    h.client.start();
    await h.flush();
    h.sockets[0]!.open();
    await h.advance(HANDSHAKE_TIMEOUT_MS);
    expect(h.sockets[0]!.closed).not.toBeNull();
    expect(h.client.getStatus()).toBe("reconnecting");
  });

  it("goes unavailable when the ticket endpoint is missing, and probes later", async () => {
    const h = harness([() => Promise.resolve("unavailable")]);
    h.client.start();
    await h.flush();
    expect(h.client.getStatus()).toBe("unavailable");
    expect(h.sockets).toHaveLength(0);
    await h.advance(UNAVAILABLE_RETRY_MS);
    expect(h.ticketCalls()).toBe(2);
    expect(h.sockets).toHaveLength(1);
  });

  it("stop closes the socket and cancels timers", async () => {
    const h = harness();
    const s = await connected(h);
    h.client.stop();
    expect(s.closed).toEqual({ code: 1000 });
    expect(h.client.getStatus()).toBe("idle");
    expect(h.pendingTimers()).toBe(0);
    s.drop(); // late close of the old socket: ignored
    expect(h.client.getStatus()).toBe("idle");
  });

  it("streams logs by id, handles single and batched frames, resubscribes after reconnect", async () => {
    const h = harness();
    const s1 = await connected(h);
    const lines: string[] = [];
    let starts = 0;
    const stop = h.client.followLogs(
      { node_id: 1, container_ids: ["abc"], tail: 100 },
      { onStart: () => (starts += 1), onLines: (ls) => lines.push(...ls.map((l) => l.message)) },
    );
    const follow = s1.sent.find((f) => f.type === "logs.follow")!;
    expect(follow).toMatchObject({ node_id: 1, container_ids: ["abc"], tail: 100 });
    const id = follow.id as string;
    s1.frame({ type: "logs.line", id, container: "web-1", stream: "stdout", ts: null, message: "one" });
    s1.frame({ type: "logs.lines", id, lines: [{ container: "web-1", stream: "stderr", ts: "t", message: "two" }, { message: "three" }] });
    s1.frame({ type: "logs.line", id: "someone-else", message: "x" });
    expect(lines).toEqual(["one", "two", "three"]);
    expect(starts).toBe(1);

    s1.drop();
    await h.advance(750);
    const s2 = h.sockets[1]!;
    s2.open();
    s2.frame({ type: "hello" });
    expect(s2.sent.find((f) => f.type === "logs.follow")).toMatchObject({ id, tail: 100 });
    expect(starts).toBe(2);

    stop();
    expect(s2.sent.at(-1)).toEqual({ type: "logs.stop", id });
    stop(); // idempotent
    expect(s2.sent.filter((f) => f.type === "logs.stop")).toHaveLength(1);
  });

  it("answers server pings, and routes stream errors to their follower only", async () => {
    const h = harness();
    const events: string[] = [];
    h.client.subscribe((e) => events.push(e.type));
    const s = await connected(h);
    s.frame({ type: "ping", ts: "now" });
    expect(s.sent).toEqual([{ type: "pong" }]);
    const errors: string[] = [];
    h.client.followLogs({ node_id: 1, container_ids: ["abc"], tail: 10 }, { onLines: () => undefined, onError: (m, c) => errors.push(`${c}:${m}`) });
    const id = s.sent.find((f) => f.type === "logs.follow")!.id;
    s.frame({ type: "logs.started", id, containers: ["abc"] });
    s.frame({ type: "logs.error", id, container: "abc", code: "engine_error", message: "gone" });
    s.frame({ type: "error", id, code: "too_many_streams", message: "too many" });
    s.frame({ type: "logs.end", id, container: "abc" });
    expect(errors).toEqual(["abc:gone", "null:too many"]);
    expect(events).toEqual([]);
  });

  it("a listener that throws does not break dispatch", async () => {
    const h = harness();
    const seen: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
    h.client.subscribe(() => {
      throw new Error("boom");
    });
    h.client.subscribe((e) => seen.push(e.type));
    const s = await connected(h);
    s.frame({ type: "audit.created", data: {} });
    expect(seen).toEqual(["audit.created"]);
    spy.mockRestore();
  });
});

describe("wsOrigin", () => {
  it("uses wss for https", () => {
    expect(wsOrigin({ protocol: "https:", host: "dock.example:8443" })).toBe("wss://dock.example:8443");
    expect(wsOrigin({ protocol: "http:", host: "localhost:8766" })).toBe("ws://localhost:8766");
  });
});

describe("invalidationsFor", () => {
  it("maps service and container events to the list and the service", () => {
    expect(invalidationsFor({ type: "service.status", data: { service_id: 4 } })).toEqual([
      serviceKeys.lists(),
      serviceKeys.detail(4),
      serviceKeys.revisions(4),
      ["dashboard"],
    ]);
    expect(invalidationsFor({ type: "container.state", data: {} })).toEqual([serviceKeys.lists(), ["dashboard"]]);
  });

  it("maps job events to jobs and the service", () => {
    expect(invalidationsFor({ type: "job.progress", data: { job_id: "j1", service_id: 4, seq: 3, message: "x" } })).toEqual([
      jobKeys.lists(),
      jobKeys.detail("j1"),
    ]);
    expect(invalidationsFor({ type: "job.progress", data: { job_id: "j1", service_id: 4, status: "running" } })).toEqual([
      jobKeys.lists(),
      jobKeys.detail("j1"),
      serviceKeys.lists(),
      serviceKeys.detail(4),
    ]);
    expect(invalidationsFor({ type: "job.finished", data: { job_id: "j1", service_id: 4, status: "succeeded" } })).toEqual([
      jobKeys.lists(),
      jobKeys.detail("j1"),
      ["dashboard"],
      serviceKeys.lists(),
      serviceKeys.detail(4),
      serviceKeys.revisions(4),
    ]);
  });

  it("maps audit, overflow and unknown events", () => {
    expect(invalidationsFor({ type: "audit.created", data: {} })).toEqual([["audit"], ["dashboard", "activity"]]);
    expect(invalidationsFor({ type: "alert.firing", data: { alert_id: 1 } })).toEqual([["alerts"], ["dashboard"]]);
    expect(invalidationsFor({ type: "overflow" })).toEqual(["all"]);
    expect(invalidationsFor({ type: "something.new" })).toEqual([]);
  });
});

describe("createCoalescer", () => {
  it("flushes each key once per window", async () => {
    vi.useFakeTimers();
    const flushed: unknown[][] = [];
    const c = createCoalescer((keys) => flushed.push(keys), 250);
    c.add([["a"], ["b"]]);
    c.add([["a"]]);
    vi.advanceTimersByTime(249);
    expect(flushed).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(flushed).toEqual([[["a"], ["b"]]]);
    c.add([["c"], "all"]);
    vi.advanceTimersByTime(250);
    expect(flushed[1]).toEqual(["all"]);
    c.add([["d"]]);
    c.cancel();
    vi.advanceTimersByTime(500);
    expect(flushed).toHaveLength(2);
    vi.useRealTimers();
  });
});

describe("bindRealtimeToQueryClient", () => {
  it("invalidates the affected queries once for a burst of events", async () => {
    vi.useFakeTimers();
    const qc = new QueryClient();
    const spy = vi.spyOn(qc, "invalidateQueries");
    let listener: (e: RealtimeEvent) => void = () => undefined;
    const unbind = bindRealtimeToQueryClient({ subscribe: (fn) => ((listener = fn), () => undefined) }, qc, 250);
    for (let i = 0; i < 50; i += 1) listener({ type: "job.progress", data: { job_id: "j", service_id: 1, seq: i } });
    listener({ type: "service.status", data: { service_id: 1 } });
    vi.advanceTimersByTime(250);
    const keys = spy.mock.calls.map((c) => JSON.stringify((c[0] as { queryKey: unknown }).queryKey));
    expect(keys.sort()).toEqual(
      [jobKeys.lists(), jobKeys.detail("j"), serviceKeys.lists(), serviceKeys.detail(1), serviceKeys.revisions(1), ["dashboard"]].map((k) => JSON.stringify(k)).sort(),
    );
    spy.mockClear();
    listener({ type: "overflow" });
    vi.advanceTimersByTime(250);
    expect(spy).toHaveBeenCalledWith();
    unbind();
    vi.useRealTimers();
  });
});
