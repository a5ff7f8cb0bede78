/**
 * Sanitises the `next` redirect target after login: only same-origin paths are
 * allowed (no "//evil.com", no "https://...", no "/\\evil"), and never /login.
 */
export function safeNext(next: string | null | undefined, fallback = "/"): string {
  if (!next) return fallback;
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return fallback;
  if (/[\u0000-\u001f]/.test(next)) return fallback;
  try {
    const url = new URL(next, "http://dockyard.invalid");
    if (url.origin !== "http://dockyard.invalid") return fallback;
    if (url.pathname === "/login") return fallback;
    return url.pathname + url.search + url.hash;
  } catch {
    return fallback;
  }
}

/** `/login?next=<current location>` */
export function loginPath(current?: string): string {
  const next = current && current !== "/" && !current.startsWith("/login") ? current : "";
  return next ? `/login?next=${encodeURIComponent(next)}` : "/login";
}
