/**
 * Token handling and the authenticated fetch used by the typed client.
 *
 * - The access token lives in memory only; the refresh token in localStorage
 *   under `dockyard.refresh`.
 * - Every request gets `Authorization: Bearer <access>`.
 * - On a 401 the session refreshes ONCE (single-flight: concurrent 401s share one
 *   refresh call) and retries the request once with the new token.
 * - If the server rejects the refresh token, tokens are cleared and the
 *   `onAuthFailure` listeners run (the app sends the user to /login?next=...).
 *   A refresh that fails for a transient reason (network, 5xx) keeps the tokens.
 */

export const REFRESH_TOKEN_KEY = "dockyard.refresh";
export const REFRESH_PATH = "/api/v1/auth/refresh";
const LOGIN_PATH = "/api/v1/auth/login";

export interface TokenPairLike {
  access_token: string;
  refresh_token: string;
  expires_in?: number;
}

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type FetchLike = (input: Request) => Promise<Response>;

export interface SessionOptions {
  fetch?: FetchLike;
  storage?: KeyValueStorage | null;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Origin used to resolve the refresh URL outside a browser. */
  baseUrl?: string;
}

/** Outcome of a refresh attempt. */
export type RefreshResult = "refreshed" | "rejected" | "no_token";

function safeStorage(): KeyValueStorage | null {
  try {
    return typeof window !== "undefined" && window.localStorage ? window.localStorage : null;
  } catch {
    return null;
  }
}

/** The refresh endpoint answered 5xx/429: not a verdict on the token. */
export class RefreshUnavailableError extends Error {
  constructor(readonly response: Response) {
    super(`Token refresh failed with HTTP ${response.status}`);
    this.name = "RefreshUnavailableError";
  }
}

export class Session {
  private accessToken: string | null = null;
  private accessExpiresAt: number | null = null;
  private inflightRefresh: Promise<RefreshResult> | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly failureListeners = new Set<() => void>();
  private readonly fetchImpl: FetchLike;
  private readonly storage: KeyValueStorage | null;
  private readonly now: () => number;
  private readonly baseUrl: string;
  /** Number of refresh calls actually sent (exposed for tests/diagnostics). */
  refreshCount = 0;

  constructor(opts: SessionOptions = {}) {
    this.fetchImpl = opts.fetch ?? ((req) => globalThis.fetch(req));
    this.storage = opts.storage === undefined ? safeStorage() : opts.storage;
    this.now = opts.now ?? Date.now;
    this.baseUrl =
      opts.baseUrl ?? (typeof window !== "undefined" ? window.location.origin : "http://localhost");
  }

  // --- token state -------------------------------------------------------

  getAccessToken(): string | null {
    return this.accessToken;
  }

  getRefreshToken(): string | null {
    try {
      return this.storage?.getItem(REFRESH_TOKEN_KEY) ?? null;
    } catch {
      return null;
    }
  }

  hasRefreshToken(): boolean {
    return this.getRefreshToken() !== null;
  }

  isAuthenticated(): boolean {
    return this.accessToken !== null;
  }

  setTokens(pair: TokenPairLike): void {
    this.accessToken = pair.access_token;
    this.accessExpiresAt =
      typeof pair.expires_in === "number" ? this.now() + pair.expires_in * 1000 : null;
    try {
      this.storage?.setItem(REFRESH_TOKEN_KEY, pair.refresh_token);
    } catch {
      /* storage full or disabled: the session just won't survive a reload */
    }
    this.emit();
  }

  clear(): void {
    const had = this.accessToken !== null || this.hasRefreshToken();
    this.accessToken = null;
    this.accessExpiresAt = null;
    try {
      this.storage?.removeItem(REFRESH_TOKEN_KEY);
    } catch {
      /* ignore */
    }
    if (had) this.emit();
  }

  /** Subscribes to token changes (for useSyncExternalStore). */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Runs when the server rejects the refresh token (session is over). */
  onAuthFailure(listener: () => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  private fail(): void {
    this.clear();
    for (const l of this.failureListeners) l();
  }

  // --- refresh -----------------------------------------------------------

  /**
   * Exchanges the refresh token for a new pair. Concurrent callers share one
   * in-flight request. Resolves "rejected" when the server refuses the token
   * (tokens are then cleared); throws on network errors / 5xx (tokens kept).
   */
  refresh(): Promise<RefreshResult> {
    if (this.inflightRefresh) return this.inflightRefresh;
    const refreshToken = this.getRefreshToken();
    if (!refreshToken) return Promise.resolve("no_token");

    const run = async (): Promise<RefreshResult> => {
      this.refreshCount += 1;
      const res = await this.fetchImpl(
        new Request(new URL(REFRESH_PATH, this.baseUrl), {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refresh_token: refreshToken }),
        }),
      );
      if (res.ok) {
        const pair = (await res.json()) as TokenPairLike;
        this.setTokens(pair);
        return "refreshed";
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        this.fail();
        return "rejected";
      }
      throw new RefreshUnavailableError(res);
    };

    this.inflightRefresh = run().finally(() => {
      this.inflightRefresh = null;
    });
    return this.inflightRefresh;
  }

  /** Gets a usable access token, refreshing first if there is none or it is about to expire. */
  private async ensureAccessToken(): Promise<string | null> {
    const expiring = this.accessExpiresAt !== null && this.accessExpiresAt - this.now() < 10_000;
    if ((this.accessToken === null || expiring) && this.hasRefreshToken()) {
      try {
        await this.refresh();
      } catch {
        /* transient: try the request with what we have; a 401 path handles the rest */
      }
    }
    return this.accessToken;
  }

  // --- fetch -------------------------------------------------------------

  private static isAuthEndpoint(url: string): boolean {
    const path = new URL(url, "http://x").pathname;
    return path === REFRESH_PATH || path === LOGIN_PATH;
  }

  private withToken(req: Request, token: string | null): Request {
    const headers = new Headers(req.headers);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    else headers.delete("Authorization");
    return new Request(req, { headers });
  }

  /** fetch() with Bearer auth, one transparent refresh + retry on 401. */
  fetch = async (input: Request): Promise<Response> => {
    if (Session.isAuthEndpoint(input.url)) return this.fetchImpl(input);

    // Keep a pristine copy: a Request body can only be read once.
    const retryCopy = input.clone();
    const tokenUsed = await this.ensureAccessToken();
    const first = await this.fetchImpl(this.withToken(input, tokenUsed));
    if (first.status !== 401) return first;

    // Another request may already have refreshed while this one was in flight.
    if (this.accessToken !== null && this.accessToken !== tokenUsed) {
      return this.fetchImpl(this.withToken(retryCopy, this.accessToken));
    }

    let result: RefreshResult;
    try {
      result = await this.refresh();
    } catch (err) {
      // Transient refresh failure (5xx / network): surface it, keep the tokens.
      if (err instanceof RefreshUnavailableError) return err.response.clone();
      throw err;
    }
    if (result === "refreshed") {
      return this.fetchImpl(this.withToken(retryCopy, this.accessToken));
    }
    if (result === "no_token") this.fail();
    return first;
  };
}

export const session = new Session();
