/** Host CSV import helpers: header check before upload, preview grouping, tag input. */

export const CSV_COLUMNS = ["hostname", "address", "ssh_port", "ssh_user", "bastion", "environment", "tags", "notes"] as const;

export interface HeaderCheck {
  ok: boolean;
  missing: string[];
  unknown: string[];
}

/** Checks the first line of a CSV file against the import's columns (any order). */
export function checkCsvHeader(firstChunk: string): HeaderCheck {
  const text = firstChunk.replace(/^\uFEFF/, "");
  const end = text.search(/\r?\n/);
  const line = end < 0 ? text : text.slice(0, end);
  const names = line
    .split(",")
    .map((n) => n.trim().replace(/^"(.*)"$/, "$1").trim().toLowerCase())
    .filter((n) => n !== "");
  const known = new Set<string>(CSV_COLUMNS);
  const missing = CSV_COLUMNS.filter((c) => !names.includes(c));
  const unknown = names.filter((n) => !known.has(n));
  return { ok: missing.length === 0 && unknown.length === 0, missing, unknown };
}

export interface RowProblems {
  row: number;
  problems: { field: string; message: string }[];
}

/** Errors grouped by row, rows ascending (a row can fail on several fields). */
export function groupErrorsByRow(errors: readonly { row: number; field: string; message: string }[]): RowProblems[] {
  const byRow = new Map<number, RowProblems>();
  for (const e of errors) {
    let entry = byRow.get(e.row);
    if (!entry) {
      entry = { row: e.row, problems: [] };
      byRow.set(e.row, entry);
    }
    entry.problems.push({ field: e.field, message: e.message });
  }
  return [...byRow.values()].sort((a, b) => a.row - b.row);
}

function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** "2 hosts to create, 1 to update, 3 rows with errors" (dry run) or the done wording. */
export function importSummary(result: { created: number; updated: number; error_count: number; dry_run: boolean }, badRows: number): string {
  const verb = result.dry_run ? ["to create", "to update"] : ["created", "updated"];
  const parts = [`${plural(result.created, "host", "hosts")} ${verb[0]}`, `${result.updated.toLocaleString("en-US")} ${verb[1]}`];
  if (result.error_count > 0) parts.push(`${plural(badRows, "row", "rows")} with errors${result.dry_run ? " (skipped)" : " skipped"}`);
  return parts.join(", ");
}

/** Tags typed by a person: separated by commas, semicolons, pipes or spaces; distinct. */
export function parseTags(text: string): string[] {
  const seen: string[] = [];
  for (const t of text.split(/[\s,;|]+/)) {
    if (t && !seen.includes(t)) seen.push(t);
  }
  return seen;
}

/** The first 12 hex digits of a SHA-256, like Docker's short ids. */
export function shortSha(sha256: string): string {
  return sha256.slice(0, 12);
}
