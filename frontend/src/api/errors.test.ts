import { describe, expect, it, vi } from "vitest";
import {
  ApiError,
  errorFromResponse,
  errorToast,
  formatDuration,
  isRetryable,
  loginErrorText,
  logApiError,
  NETWORK_ERROR_MESSAGE,
  parseApiError,
  parseRetryAfter,
  toApiError,
} from "./errors";

const envelope = (code: string, message: string, details?: Record<string, unknown>) => ({
  error: { code, message, ...(details ? { details } : {}) },
});

describe("parseApiError", () => {
  it("reads code, message, details and request id from the envelope", () => {
    const headers = new Headers({ "X-Request-ID": "req-123" });
    const err = parseApiError(401, envelope("invalid_credentials", "Wrong email or password.", { attempts: 3 }), headers);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.kind).toBe("http");
    expect(err.status).toBe(401);
    expect(err.code).toBe("invalid_credentials");
    expect(err.message).toBe("Wrong email or password.");
    expect(err.details).toEqual({ attempts: 3 });
    expect(err.requestId).toBe("req-123");
  });

  it("falls back to a generic message for non-envelope bodies (e.g. proxy HTML)", () => {
    const err = parseApiError(502, "<html>Bad gateway</html>", new Headers());
    expect(err.code).toBe("http_502");
    expect(err.message).toMatch(/HTTP 502/);
    expect(err.requestId).toBeNull();
    expect(err.details).toBeNull();
  });

  it("accepts FastAPI's default {detail: string}", () => {
    expect(parseApiError(404, { detail: "Not Found" }).message).toBe("Not Found");
  });

  it("ignores an empty message and non-object details", () => {
    const err = parseApiError(500, { error: { code: "boom", message: "  ", details: "nope" } });
    expect(err.code).toBe("boom");
    expect(err.message).toMatch(/server ran into a problem/);
    expect(err.details).toBeNull();
  });

  it("takes retry time from Retry-After, else from details.retry_after_s", () => {
    const limited = parseApiError(429, envelope("rate_limited", "Slow down."), new Headers({ "Retry-After": "30" }));
    expect(limited.retryAfterS).toBe(30);
    const locked = parseApiError(423, envelope("account_locked", "Account locked.", { retry_after_s: 899.2 }));
    expect(locked.retryAfterS).toBe(900);
  });
});

describe("parseRetryAfter", () => {
  it("handles seconds, HTTP dates and garbage", () => {
    expect(parseRetryAfter("120")).toBe(120);
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:01:00 GMT", now)).toBe(60);
    expect(parseRetryAfter("soon")).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("")).toBeNull();
  });
});

describe("errorFromResponse", () => {
  it("parses a JSON error response", async () => {
    const res = new Response(JSON.stringify(envelope("not_found", "Node 9 does not exist.")), {
      status: 404,
      headers: { "Content-Type": "application/json", "X-Request-ID": "abc" },
    });
    const err = await errorFromResponse(res);
    expect(err.code).toBe("not_found");
    expect(err.message).toBe("Node 9 does not exist.");
    expect(err.requestId).toBe("abc");
  });

  it("survives an empty or non-JSON body", async () => {
    const err = await errorFromResponse(new Response("oops", { status: 503 }));
    expect(err.status).toBe(503);
    expect(err.code).toBe("http_503");
  });
});

describe("retryability and toasts", () => {
  it("treats network failures and 5xx as retryable, 4xx not", () => {
    expect(isRetryable(toApiError(new TypeError("Failed to fetch")))).toBe(true);
    expect(isRetryable(parseApiError(503, null))).toBe(true);
    expect(isRetryable(parseApiError(500, null))).toBe(true);
    expect(isRetryable(parseApiError(404, null))).toBe(false);
    expect(isRetryable(parseApiError(429, null))).toBe(false);
    expect(isRetryable(new Error("x"))).toBe(false);
  });

  it("builds a network toast with a stable id and a retry", () => {
    const t = errorToast(new TypeError("Failed to fetch"));
    expect(t).toEqual({ id: "network-error", message: NETWORK_ERROR_MESSAGE, requestId: null, retryable: true });
  });

  it("shows the API message and request id, never details", () => {
    const err = parseApiError(
      500,
      envelope("internal_error", "Something broke on our side.", { secret: "stack trace here" }),
      new Headers({ "X-Request-ID": "r-42" }),
    );
    const t = errorToast(err);
    expect(t.message).toBe("Something broke on our side.");
    expect(t.requestId).toBe("r-42");
    expect(t.retryable).toBe(true);
    expect(t.id).toBe("req-r-42");
    expect(JSON.stringify(t)).not.toContain("stack trace");
  });

  it("appends the wait time for rate limits unless the message already says it", () => {
    const a = parseApiError(429, envelope("rate_limited", "Too many requests"), new Headers({ "Retry-After": "90" }));
    expect(errorToast(a).message).toBe("Too many requests. Try again in 2 minutes.");
    const b = parseApiError(429, envelope("rate_limited", "Try again in 5 seconds."), new Headers({ "Retry-After": "5" }));
    expect(errorToast(b).message).toBe("Try again in 5 seconds.");
  });

  it("logs details to the console only", () => {
    const spy = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    logApiError(parseApiError(422, envelope("validation_error", "Invalid input.", { field: "limit" })), "audit");
    expect(spy).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(spy.mock.calls[0])).toContain("limit");
    spy.mockRestore();
  });
});

describe("login error text", () => {
  it("shows how long a locked account stays locked", () => {
    const err = parseApiError(423, envelope("account_locked", "Account locked.", { retry_after_s: 840 }));
    expect(loginErrorText(err)).toBe("This account is locked after too many failed attempts. Try again in 14 minutes.");
  });

  it("shows the retry time when rate limited", () => {
    const err = parseApiError(429, envelope("rate_limited", "Too many requests."), new Headers({ "Retry-After": "30" }));
    expect(loginErrorText(err)).toBe("Too many sign-in attempts. Try again in 30 seconds.");
  });

  it("uses the server message for bad credentials and a network sentence offline", () => {
    expect(loginErrorText(parseApiError(401, envelope("invalid_credentials", "Invalid email or password.")))).toBe(
      "Invalid email or password.",
    );
    expect(loginErrorText(new TypeError("Failed to fetch"))).toBe(NETWORK_ERROR_MESSAGE);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0 seconds"],
    [1, "1 second"],
    [59, "59 seconds"],
    [60, "1 minute"],
    [61, "2 minutes"],
    [900, "15 minutes"],
    [3600, "1 hour"],
    [3900, "1 hour 5 minutes"],
    [7199, "2 hours"],
  ])("%i s -> %s", (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });
});
