import { describe, expect, it } from "vitest";
import {
  EMPTY_AUDIT_FILTERS,
  exportSearch,
  filtersFromSearchParams,
  filtersToQuery,
  filtersToSearchParams,
  hasActiveFilters,
  isoToLocalInput,
  localInputToIso,
  sameFilters,
  type AuditFilters,
} from "./auditFilters";

const full: AuditFilters = {
  actor: "admin@example.com",
  action: "auth.",
  target_type: "user",
  target_id: "7",
  outcome: "failure",
  since: "2025-01-15T08:00:00.000Z",
  until: "2025-01-16T08:00:00.000Z",
};

describe("audit filters <-> URL", () => {
  it("round-trips every filter through the query string", () => {
    const sp = filtersToSearchParams(full);
    expect(filtersFromSearchParams(new URLSearchParams(sp.toString()))).toEqual(full);
  });

  it("omits empty values and trims text", () => {
    const sp = filtersToSearchParams({ ...EMPTY_AUDIT_FILTERS, action: "  auth. ", actor: "   " });
    expect(sp.toString()).toBe("action=auth.");
  });

  it("drops unknown outcomes and invalid dates from the URL", () => {
    const f = filtersFromSearchParams(new URLSearchParams("outcome=maybe&since=yesterday&until=2025-01-01T00:00:00Z&other=1"));
    expect(f.outcome).toBe("");
    expect(f.since).toBe("");
    expect(f.until).toBe("2025-01-01T00:00:00.000Z");
  });

  it("builds API query params without empty keys", () => {
    expect(filtersToQuery({ ...EMPTY_AUDIT_FILTERS, outcome: "denied", actor: " 3 " })).toEqual({ outcome: "denied", actor: "3" });
    expect(filtersToQuery(EMPTY_AUDIT_FILTERS)).toEqual({});
  });

  it("builds the export query with the format first", () => {
    expect(exportSearch({ ...EMPTY_AUDIT_FILTERS, action: "node." }, "jsonl")).toBe("format=jsonl&action=node.");
  });

  it("detects active filters and compares ignoring surrounding spaces", () => {
    expect(hasActiveFilters(EMPTY_AUDIT_FILTERS)).toBe(false);
    expect(hasActiveFilters({ ...EMPTY_AUDIT_FILTERS, outcome: "success" })).toBe(true);
    expect(sameFilters({ ...EMPTY_AUDIT_FILTERS, actor: "a " }, { ...EMPTY_AUDIT_FILTERS, actor: "a" })).toBe(true);
    expect(sameFilters(full, EMPTY_AUDIT_FILTERS)).toBe(false);
  });
});

describe("datetime-local conversion (TZ Europe/Berlin)", () => {
  it("shows UTC instants in local time", () => {
    expect(isoToLocalInput("2025-01-15T08:00:00.000Z")).toBe("2025-01-15T09:00");
    expect(isoToLocalInput("2025-07-15T08:00:00.000Z")).toBe("2025-07-15T10:00");
    expect(isoToLocalInput("")).toBe("");
    expect(isoToLocalInput("garbage")).toBe("");
  });

  it("converts local input back to UTC ISO", () => {
    expect(localInputToIso("2025-01-15T09:00")).toBe("2025-01-15T08:00:00.000Z");
    expect(localInputToIso("2025-07-15T10:00:30")).toBe("2025-07-15T08:00:30.000Z");
    expect(localInputToIso("")).toBe("");
    expect(localInputToIso("2025-01-15")).toBe("");
  });

  it("round-trips local -> ISO -> local", () => {
    expect(isoToLocalInput(localInputToIso("2025-03-30T03:30"))).toBe("2025-03-30T03:30");
  });
});
