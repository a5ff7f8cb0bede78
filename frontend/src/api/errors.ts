/**
 * API error model and the pure functions that turn failures into user-facing text.
 *
 * Every API error body is `{"error": {"code", "message", "details"}}` and every
 * response carries `X-Request-ID`. `details` is for the console only: it is never
 * rendered in the UI.
 */

export type ApiErrorKind = "http" | "network";

export interface ApiErrorInit {
  kind: ApiErrorKind;
  status: number;
  code: string;
  message: string;
  requestId?: string | null;
  details?: Record<string, unknown> | null;
  retryAfterS?: number | null;
}

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  /** HTTP status, or 0 for a network failure. */
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly details: Record<string, unknown> | null;
  /** Seconds to wait before retrying (from `Retry-After` or `details.retry_after_s`). */
  readonly retryAfterS: number | null;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = "ApiError";
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId ?? null;
    this.details = init.details ?? null;
    this.retryAfterS = init.retryAfterS ?? null;
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

export const NETWORK_ERROR_MESSAGE =
  "Can't reach the Dockyard server. Check your connection and that the server is running.";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses a `Retry-After` header value (delta-seconds or HTTP date) into whole seconds. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value == null) return null;
  const trimmed = value.trim();
  if (trimmed === "") return null;
  if (/^\d+$/.test(trimmed)) return Number.parseInt(trimmed, 10);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

function genericMessage(status: number): string {
  if (status >= 500) return `The server ran into a problem (HTTP ${status}). Please try again.`;
  switch (status) {
    case 401:
      return "Your session has expired. Please sign in again.";
    case 403:
      return "You don't have permission to do that.";
    case 404:
      return "The requested item was not found.";
    case 429:
      return "Too many requests. Please slow down and try again.";
    default:
      return `The request failed (HTTP ${status}).`;
  }
}

/**
 * Builds an ApiError from an HTTP status, the (already parsed, possibly non-JSON)
 * body and the response headers. Tolerates bodies that do not follow the envelope,
 * e.g. an HTML 502 page from a reverse proxy or FastAPI's default `{"detail": ...}`.
 */
export function parseApiError(status: number, body: unknown, headers?: Headers | null): ApiError {
  const requestId = headers?.get("x-request-id") ?? null;
  let code = `http_${status}`;
  let message = genericMessage(status);
  let details: Record<string, unknown> | null = null;

  const envelope = isRecord(body) ? body["error"] : undefined;
  if (isRecord(envelope)) {
    if (typeof envelope["code"] === "string" && envelope["code"]) code = envelope["code"];
    if (typeof envelope["message"] === "string" && envelope["message"].trim()) message = envelope["message"];
    if (isRecord(envelope["details"])) details = envelope["details"];
  } else if (isRecord(body) && typeof body["detail"] === "string") {
    message = body["detail"];
  }

  let retryAfterS = parseRetryAfter(headers?.get("retry-after"));
  const detailRetry = details?.["retry_after_s"];
  if (retryAfterS === null && typeof detailRetry === "number" && Number.isFinite(detailRetry)) {
    retryAfterS = Math.max(0, Math.ceil(detailRetry));
  }

  return new ApiError({ kind: "http", status, code, message, requestId, details, retryAfterS });
}

/** Reads a failed Response's body (JSON if possible) and turns it into an ApiError. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return parseApiError(response.status, body, response.headers);
}

export function networkError(cause?: unknown): ApiError {
  const err = new ApiError({ kind: "network", status: 0, code: "network_error", message: NETWORK_ERROR_MESSAGE });
  if (cause !== undefined) (err as { cause?: unknown }).cause = cause;
  return err;
}

/** Normalises anything thrown into an ApiError (unknown exceptions become client errors). */
export function toApiError(err: unknown): ApiError {
  if (isApiError(err)) return err;
  if (err instanceof TypeError) return networkError(err);
  const message = err instanceof Error && err.message ? err.message : "Something went wrong.";
  return new ApiError({ kind: "http", status: 0, code: "client_error", message });
}

/** Network failures and 5xx responses are worth retrying; 4xx are not. */
export function isRetryable(err: unknown): boolean {
  if (!isApiError(err)) return false;
  return err.kind === "network" || err.status >= 500;
}

/** "45 seconds", "1 minute", "15 minutes", "2 hours", "1 hour 5 minutes". */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.ceil(totalSeconds));
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (s < 60) return plural(s, "second");
  if (s < 3600) return plural(Math.ceil(s / 60), "minute");
  const h = Math.floor(s / 3600);
  const m = Math.ceil((s % 3600) / 60);
  if (m === 60) return plural(h + 1, "hour");
  return m ? `${plural(h, "hour")} ${plural(m, "minute")}` : plural(h, "hour");
}

export interface ErrorToast {
  /** Stable id so identical failures (e.g. the server being down) show one toast, not five. */
  id: string | undefined;
  message: string;
  requestId: string | null;
  retryable: boolean;
}

/** What a toast for this error shows. Never includes `details`. */
export function errorToast(err: unknown): ErrorToast {
  const e = toApiError(err);
  let message = e.message;
  if (e.retryAfterS !== null && (e.status === 429 || e.status === 423) && !/\btry again in\b/i.test(message)) {
    message = `${message.replace(/\.?\s*$/, ".")} Try again in ${formatDuration(e.retryAfterS)}.`;
  }
  return {
    id: e.kind === "network" ? "network-error" : e.requestId ? `req-${e.requestId}` : undefined,
    message,
    requestId: e.requestId,
    retryable: isRetryable(e),
  };
}

/** Inline text for the login form. */
export function loginErrorText(err: unknown): string {
  const e = toApiError(err);
  switch (e.code) {
    case "invalid_credentials":
      return e.message || "Incorrect email or password.";
    case "account_locked":
      return e.retryAfterS !== null
        ? `This account is locked after too many failed attempts. Try again in ${formatDuration(e.retryAfterS)}.`
        : "This account is locked after too many failed attempts. Try again later.";
    case "rate_limited":
      return e.retryAfterS !== null
        ? `Too many sign-in attempts. Try again in ${formatDuration(e.retryAfterS)}.`
        : "Too many sign-in attempts. Please wait a moment and try again.";
    default:
      return e.message;
  }
}

/** Logs the machine-readable parts of an error for debugging; `details` only ever go here. */
export function logApiError(err: unknown, context?: string): void {
  const e = toApiError(err);
  console.warn(`[dockyard] ${context ? `${context}: ` : ""}${e.code} (HTTP ${e.status})`, {
    message: e.message,
    requestId: e.requestId,
    details: e.details,
  });
}
