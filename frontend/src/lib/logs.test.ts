import { describe, expect, it } from "vitest";
import {
  containerColor,
  filterEntries,
  findMatches,
  formatLogTimestamp,
  LogBuffer,
  markSegments,
  shortContainerName,
  type RawLogLine,
} from "./logs";

const line = (message: string, container = "web-1"): RawLogLine => ({ container, stream: "stdout", ts: null, message });
const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => line(`line ${from + i}`));

describe("LogBuffer", () => {
  it("appends lines with increasing ids and parsed text", () => {
    const b = new LogBuffer(10);
    b.push([line("\u001b[31mred\u001b[0m"), line("plain\n")]);
    const [a, c] = b.toArray();
    expect(a!.text).toBe("red");
    expect(a!.segments[0]!.style.fg).toBe(1);
    expect(c!.message).toBe("plain");
    expect(c!.id).toBeGreaterThan(a!.id);
  });

  it("caps the buffer, dropping the oldest lines", () => {
    const b = new LogBuffer(5);
    expect(b.push(many(3))).toBe(0);
    expect(b.push(many(4, 3))).toBe(2);
    expect(b.size).toBe(5);
    expect(b.toArray().map((e) => e.text)).toEqual(["line 2", "line 3", "line 4", "line 5", "line 6"]);
    expect(b.dropped).toBe(2);
  });

  it("keeps only the newest cap lines of one huge batch", () => {
    const b = new LogBuffer(20_000);
    const dropped = b.push(many(25_000));
    expect(dropped).toBe(5_000);
    expect(b.size).toBe(20_000);
    expect(b.toArray()[0]!.text).toBe("line 5000");
    expect(b.toArray().at(-1)!.text).toBe("line 24999");
  });

  it("handles 10,000 lines quickly", () => {
    const b = new LogBuffer();
    const t0 = performance.now();
    for (let i = 0; i < 100; i += 1) b.push(many(100, i * 100));
    expect(b.size).toBe(10_000);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it("replace and clear reset the content and bump the version", () => {
    const b = new LogBuffer(5);
    b.push(many(5));
    const v = b.version;
    b.replace([line("fresh")]);
    expect(b.toArray().map((e) => e.text)).toEqual(["fresh"]);
    expect(b.version).toBeGreaterThan(v);
    b.clear();
    expect(b.size).toBe(0);
  });

  it("merges streams of several containers by time", () => {
    const b = new LogBuffer(10);
    const at = (sec: number, container: string) => ({ container, stream: "stdout", ts: `2025-01-01T00:00:0${sec}.000000000Z`, message: `${container}@${sec}` });
    b.push([at(1, "a"), at(3, "a"), at(5, "a")], { byTime: true });
    b.push([at(2, "b"), at(4, "b"), at(6, "b")], { byTime: true }); // b's backlog arrives later
    expect(b.toArray().map((e) => e.text)).toEqual(["a@1", "b@2", "a@3", "b@4", "a@5", "b@6"]);
    b.push([at(7, "a")], { byTime: true });
    expect(b.toArray().at(-1)!.text).toBe("a@7");
  });

  it("keeps untimed lines next to the line before them", () => {
    const b = new LogBuffer(10);
    b.push(
      [
        { container: "a", stream: "stdout", ts: "2", message: "two" },
        { container: "a", stream: "stdout", ts: null, message: "two-cont" },
        { container: "a", stream: "stdout", ts: "1", message: "one" },
      ],
      { byTime: true },
    );
    expect(b.toArray().map((e) => e.text)).toEqual(["one", "two", "two-cont"]);
  });

  it("rejects a nonsensical cap", () => {
    expect(() => new LogBuffer(0)).toThrow();
  });
});

describe("search", () => {
  it("finds case-insensitive, non-overlapping matches", () => {
    expect(findMatches("Error error ERROR", "error")).toEqual([
      { start: 0, end: 5 },
      { start: 6, end: 11 },
      { start: 12, end: 17 },
    ]);
    expect(findMatches("aaaa", "aa")).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 4 },
    ]);
    expect(findMatches("abc", "")).toEqual([]);
  });

  it("filters entries by query and container", () => {
    const b = new LogBuffer();
    b.push([line("GET /health", "web-1"), line("db ready", "db-1"), line("GET /", "web-1")]);
    expect(filterEntries(b.toArray(), "get").map((e) => e.text)).toEqual(["GET /health", "GET /"]);
    expect(filterEntries(b.toArray(), "", "db-1").map((e) => e.text)).toEqual(["db ready"]);
    expect(filterEntries(b.toArray(), "")).toBe(b.toArray());
  });

  it("marks matches across colour boundaries", () => {
    const segments = [
      { text: "hello ", style: {} },
      { text: "wor", style: { fg: 1 } },
      { text: "ld!", style: {} },
    ];
    const marked = markSegments(segments, findMatches("hello world!", "o wo"));
    expect(marked).toEqual([
      { text: "hell", style: {}, mark: false },
      { text: "o ", style: {}, mark: true },
      { text: "wo", style: { fg: 1 }, mark: true },
      { text: "r", style: { fg: 1 }, mark: false },
      { text: "ld!", style: {}, mark: false },
    ]);
  });

  it("marks several matches within one segment", () => {
    const marked = markSegments([{ text: "a-a-a", style: {} }], findMatches("a-a-a", "a"));
    expect(marked.map((m) => [m.text, m.mark])).toEqual([
      ["a", true],
      ["-", false],
      ["a", true],
      ["-", false],
      ["a", true],
    ]);
  });

  it("returns unmarked segments without matches", () => {
    expect(markSegments([{ text: "x", style: {} }], [])).toEqual([{ text: "x", style: {}, mark: false }]);
  });
});

describe("display helpers", () => {
  it("formats RFC 3339 nano timestamps in local time", () => {
    // TZ is Europe/Berlin in the test environment.
    expect(formatLogTimestamp("2025-03-04T14:05:09.123456789Z")).toBe("2025-03-04 15:05:09.123");
    expect(formatLogTimestamp("2025-03-04T14:05:09.123456789Z", true)).toBe("15:05:09.123");
    expect(formatLogTimestamp(null)).toBe("");
    expect(formatLogTimestamp("garbage")).toBe("garbage");
  });

  it("gives stable container colours and short names", () => {
    expect(containerColor("web-1")).toBe(containerColor("web-1"));
    expect(shortContainerName("shop-web-1", "shop")).toBe("web-1");
    expect(shortContainerName("/other", "shop")).toBe("other");
  });
});
