import { beforeEach, describe, expect, it, vi } from "vitest";
import { REFRESH_TOKEN_KEY, Session, type KeyValueStorage } from "./session";

class MemoryStorage implements KeyValueStorage {
  map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });

const pair = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: "bearer", expires_in: 900 });

/**
 * A tiny fake server: protected endpoints accept only `validAccess`; the refresh
 * endpoint rotates tokens. `refreshGate` lets a test hold the refresh response.
 */
function fakeServer() {
  const state = {
    validAccess: "access-1",
    validRefresh: "refresh-0",
    generation: 1,
    refreshStatus: 200,
    refreshGate: null as Promise<void> | null,
    calls: [] as { path: string; auth: string | null; body: string }[],
  };
  const fetch = vi.fn(async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const body = req.method === "GET" ? "" : await req.text();
    state.calls.push({ path, auth: req.headers.get("authorization"), body });
    if (path === "/api/v1/auth/refresh") {
      if (state.refreshGate) await state.refreshGate;
      if (state.refreshStatus !== 200) {
        return json(state.refreshStatus, { error: { code: "invalid_refresh_token", message: "Session expired." } });
      }
      const sent = (JSON.parse(body) as { refresh_token: string }).refresh_token;
      if (sent !== state.validRefresh) {
        return json(401, { error: { code: "invalid_refresh_token", message: "Session expired." } });
      }
      state.generation += 1;
      state.validAccess = `access-${state.generation}`;
      state.validRefresh = `refresh-${state.generation}`;
      return json(200, pair(state.generation));
    }
    if (path === "/api/v1/auth/login") {
      return json(401, { error: { code: "invalid_credentials", message: "Wrong password." } });
    }
    if (req.headers.get("authorization") !== `Bearer ${state.validAccess}`) {
      return json(401, { error: { code: "unauthorized", message: "Not authenticated." } }, { "X-Request-ID": "r1" });
    }
    return json(200, { ok: true, path, body });
  });
  return { state, fetch };
}

const BASE = "http://dockyard.test";
const get = (path: string) => new Request(`${BASE}${path}`);

describe("Session", () => {
  let storage: MemoryStorage;
  beforeEach(() => {
    storage = new MemoryStorage();
  });

  it("attaches the Bearer token from memory", async () => {
    const { state, fetch } = fakeServer();
    const s = new Session({ fetch, storage, baseUrl: BASE });
    s.setTokens({ access_token: "access-1", refresh_token: "refresh-0", expires_in: 900 });
    const res = await s.fetch(get("/api/v1/auth/me"));
    expect(res.status).toBe(200);
    expect(state.calls).toEqual([{ path: "/api/v1/auth/me", auth: "Bearer access-1", body: "" }]);
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-0");
  });

  it("refreshes once on 401 and retries the request with the new token and same body", async () => {
    const { state, fetch } = fakeServer();
    const s = new Session({ fetch, storage, baseUrl: BASE });
    s.setTokens({ access_token: "stale", refresh_token: "refresh-0", expires_in: 900 });

    const res = await s.fetch(new Request(`${BASE}/api/v1/things`, { method: "POST", body: '{"a":1}' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ body: '{"a":1}' });
    expect(state.calls.map((c) => [c.path, c.auth])).toEqual([
      ["/api/v1/things", "Bearer stale"],
      ["/api/v1/auth/refresh", null],
      ["/api/v1/things", "Bearer access-2"],
    ]);
    expect(s.getAccessToken()).toBe("access-2");
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-2");
  });

  it("shares one refresh between concurrent 401s (single-flight)", async () => {
    const { state, fetch } = fakeServer();
    let release!: () => void;
    state.refreshGate = new Promise<void>((r) => (release = r));
    const s = new Session({ fetch, storage, baseUrl: BASE });
    s.setTokens({ access_token: "stale", refresh_token: "refresh-0", expires_in: 900 });

    const pending = Promise.all([s.fetch(get("/api/v1/a")), s.fetch(get("/api/v1/b")), s.fetch(get("/api/v1/c"))]);
    await vi.waitFor(() => expect(state.calls.filter((c) => c.path === "/api/v1/auth/refresh")).toHaveLength(1));
    release();
    const results = await pending;

    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(state.calls.filter((c) => c.path === "/api/v1/auth/refresh")).toHaveLength(1);
    expect(s.refreshCount).toBe(1);
    const retries = state.calls.filter((c) => c.auth === "Bearer access-2").map((c) => c.path).sort();
    expect(retries).toEqual(["/api/v1/a", "/api/v1/b", "/api/v1/c"]);
  });

  it("does not refresh again for a 401 that raced a refresh already done", async () => {
    const { state, fetch } = fakeServer();
    const s = new Session({ fetch, storage, baseUrl: BASE });
    s.setTokens({ access_token: "stale", refresh_token: "refresh-0", expires_in: 900 });
    // Request A gets its 401; meanwhile another caller refreshes.
    const slow = vi.fn(async (req: Request) => {
      const res = await fetch(req);
      if (res.status === 401 && s.refreshCount === 0) await s.refresh();
      return res;
    });
    const s2 = s as unknown as { fetchImpl: typeof fetch };
    s2.fetchImpl = slow as unknown as typeof fetch;
    const res = await s.fetch(get("/api/v1/x"));
    expect(res.status).toBe(200);
    expect(s.refreshCount).toBe(1);
    expect(state.calls.filter((c) => c.path === "/api/v1/auth/refresh")).toHaveLength(1);
  });

  it("clears tokens and reports auth failure when the refresh token is rejected", async () => {
    const { state, fetch } = fakeServer();
    state.refreshStatus = 401;
    const s = new Session({ fetch, storage, baseUrl: BASE });
    const onFail = vi.fn();
    s.onAuthFailure(onFail);
    s.setTokens({ access_token: "stale", refresh_token: "refresh-0", expires_in: 900 });

    const [a, b] = await Promise.all([s.fetch(get("/api/v1/a")), s.fetch(get("/api/v1/b"))]);
    expect(a.status).toBe(401);
    expect(b.status).toBe(401);
    expect(onFail).toHaveBeenCalledTimes(1);
    expect(s.getAccessToken()).toBeNull();
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    expect(state.calls.filter((c) => c.path === "/api/v1/auth/refresh")).toHaveLength(1);
    // No retry of the original requests after a failed refresh.
    expect(state.calls.filter((c) => c.path !== "/api/v1/auth/refresh")).toHaveLength(2);
  });

  it("keeps the session when the refresh endpoint fails transiently (5xx)", async () => {
    const { state, fetch } = fakeServer();
    state.refreshStatus = 503;
    const s = new Session({ fetch, storage, baseUrl: BASE });
    const onFail = vi.fn();
    s.onAuthFailure(onFail);
    s.setTokens({ access_token: "stale", refresh_token: "refresh-0", expires_in: 900 });

    const res = await s.fetch(get("/api/v1/a"));
    expect(res.status).toBe(503);
    expect(onFail).not.toHaveBeenCalled();
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-0");
  });

  it("reports auth failure on 401 when there is no refresh token at all", async () => {
    const { fetch } = fakeServer();
    const s = new Session({ fetch, storage, baseUrl: BASE });
    const onFail = vi.fn();
    s.onAuthFailure(onFail);
    const res = await s.fetch(get("/api/v1/a"));
    expect(res.status).toBe(401);
    expect(onFail).toHaveBeenCalledTimes(1);
  });

  it("never refreshes for the login endpoint", async () => {
    const { state, fetch } = fakeServer();
    const s = new Session({ fetch, storage, baseUrl: BASE });
    storage.setItem(REFRESH_TOKEN_KEY, "refresh-0");
    const res = await s.fetch(new Request(`${BASE}/api/v1/auth/login`, { method: "POST", body: "{}" }));
    expect(res.status).toBe(401);
    expect(state.calls.map((c) => c.path)).toEqual(["/api/v1/auth/login"]);
  });

  it("on load with only a refresh token, refreshes before the first request", async () => {
    const { state, fetch } = fakeServer();
    storage.setItem(REFRESH_TOKEN_KEY, "refresh-0");
    const s = new Session({ fetch, storage, baseUrl: BASE });
    expect(s.isAuthenticated()).toBe(false);
    const res = await s.fetch(get("/api/v1/auth/me"));
    expect(res.status).toBe(200);
    expect(state.calls.map((c) => [c.path, c.auth])).toEqual([
      ["/api/v1/auth/refresh", null],
      ["/api/v1/auth/me", "Bearer access-2"],
    ]);
  });

  it("refreshes proactively when the access token is about to expire", async () => {
    const { state, fetch } = fakeServer();
    let now = 1_000_000;
    const s = new Session({ fetch, storage, baseUrl: BASE, now: () => now });
    s.setTokens({ access_token: "access-1", refresh_token: "refresh-0", expires_in: 900 });
    now += 895_000; // 5 s left
    await s.fetch(get("/api/v1/a"));
    expect(state.calls.map((c) => c.path)).toEqual(["/api/v1/auth/refresh", "/api/v1/a"]);
  });

  it("notifies subscribers when tokens change", () => {
    const s = new Session({ fetch: vi.fn(), storage, baseUrl: BASE });
    const listener = vi.fn();
    const unsubscribe = s.subscribe(listener);
    s.setTokens(pair(1));
    s.clear();
    unsubscribe();
    s.setTokens(pair(2));
    expect(listener).toHaveBeenCalledTimes(2);
  });
});
