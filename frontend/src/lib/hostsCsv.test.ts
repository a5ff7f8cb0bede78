import { describe, expect, it } from "vitest";
import { checkCsvHeader, groupErrorsByRow, importSummary, parseTags, shortSha } from "./hostsCsv";

describe("checkCsvHeader", () => {
  it("accepts the columns in any order, with a BOM, quotes and spaces", () => {
    expect(checkCsvHeader('\uFEFFnotes, "Hostname",address,ssh_port,ssh_user,bastion,environment,tags\r\nx,y').ok).toBe(true);
  });
  it("names missing and unknown columns", () => {
    const check = checkCsvHeader("hostname,addr,ssh_port,ssh_user,bastion,environment,tags,notes,extra\n");
    expect(check).toEqual({ ok: false, missing: ["address"], unknown: ["addr", "extra"] });
  });
  it("treats an empty file as missing everything", () => {
    expect(checkCsvHeader("").missing).toHaveLength(8);
  });
});

describe("groupErrorsByRow", () => {
  it("groups a row's fields together and sorts rows", () => {
    const grouped = groupErrorsByRow([
      { row: 5, field: "ssh_port", message: "bad port" },
      { row: 3, field: "address", message: "bad address" },
      { row: 5, field: "address", message: "bad address" },
    ]);
    expect(grouped.map((g) => g.row)).toEqual([3, 5]);
    expect(grouped[1]?.problems.map((p) => p.field)).toEqual(["ssh_port", "address"]);
  });
});

describe("importSummary", () => {
  it("words a dry run and a real import", () => {
    expect(importSummary({ created: 1, updated: 2, error_count: 3, dry_run: true }, 2)).toBe("1 host to create, 2 to update, 2 rows with errors (skipped)");
    expect(importSummary({ created: 50000, updated: 0, error_count: 0, dry_run: false }, 0)).toBe("50,000 hosts created, 0 updated");
  });
});

describe("parseTags and shortSha", () => {
  it("splits on any separator and drops duplicates", () => {
    expect(parseTags(" web, eu;web | db  ")).toEqual(["web", "eu", "db"]);
  });
  it("shortens a digest", () => {
    expect(shortSha("0123456789abcdef")).toBe("0123456789ab");
  });
});
