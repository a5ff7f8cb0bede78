import createClient from "openapi-fetch";
import { parseApiError, toApiError, errorFromResponse } from "./errors";
import type { paths } from "./schema";
import { session } from "./session";

/**
 * Typed API client (openapi-fetch over the generated `paths`). All requests go
 * through `session.fetch`, which adds the Bearer token and handles the
 * single-flight refresh-and-retry on 401.
 */
export const api = createClient<paths>({
  baseUrl: typeof window !== "undefined" ? window.location.origin : "",
  fetch: (req) => session.fetch(req),
  headers: { Accept: "application/json" },
});

interface ClientResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Awaits an openapi-fetch call and returns its data, or throws an ApiError. */
export async function call<T>(pending: Promise<ClientResult<T>>): Promise<T> {
  let result: ClientResult<T>;
  try {
    result = await pending;
  } catch (err) {
    throw toApiError(err);
  }
  if (!result.response.ok) {
    throw parseApiError(result.response.status, result.error, result.response.headers);
  }
  return result.data as T;
}

/** Picks a filename from Content-Disposition, falling back to `fallback`. */
export function filenameFromDisposition(header: string | null, fallback: string): string {
  if (!header) return fallback;
  const star = /filename\*\s*=\s*(?:UTF-8'')?([^;]+)/i.exec(header);
  if (star?.[1]) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
    } catch {
      /* fall through */
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(header);
  const name = plain?.[1]?.trim();
  return name ? name.replace(/[/\\]/g, "_") : fallback;
}

/** Fetches an authenticated file (e.g. an export) and hands it to the browser as a download. */
export async function downloadAuthenticated(url: string, fallbackName: string): Promise<void> {
  let response: Response;
  try {
    response = await session.fetch(new Request(new URL(url, window.location.origin)));
  } catch (err) {
    throw toApiError(err);
  }
  if (!response.ok) throw await errorFromResponse(response);
  const blob = await response.blob();
  const name = filenameFromDisposition(response.headers.get("content-disposition"), fallbackName);
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
