/** The server's rule for service names (`dockyard.services.schemas.SERVICE_NAME`). */
export const SERVICE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Why `name` is not a valid service name, or null when it is (or is still empty). */
export function serviceNameProblem(name: string): string | null {
  if (!name) return null;
  if (name.length > 63) return "At most 63 characters.";
  if (!SERVICE_NAME_RE.test(name)) return "Lower-case letters, digits, '-' and '_' only, starting with a letter or digit.";
  return null;
}

/**
 * A valid service name made from `text` (a project or container name), like the server's
 * `sanitize_key`: lower case, runs of other characters as `-`, trimmed to 63 characters.
 */
export function suggestServiceName(text: string, fallback = "adopted"): string {
  const key = text
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^[-_]+|[-_]+$/g, "")
    .slice(0, 63)
    .replace(/[-_]+$/, "");
  return key || fallback;
}
