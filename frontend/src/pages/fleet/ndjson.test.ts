import { describe, expect, it } from "vitest";
import { NdjsonParser, readNdjson } from "./ndjson";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === "string" ? enc.encode(c) : c);
      controller.close();
    },
  });
}

describe("NdjsonParser", () => {
  it("returns values only once their line is complete", () => {
    const p = new NdjsonParser<{ n: number }>();
    expect(p.push('{"n":1}\n{"n"')).toEqual([{ n: 1 }]);
    expect(p.push(":2}")).toEqual([]);
    expect(p.push("\n\n{\"n\":3}\n")).toEqual([{ n: 2 }, { n: 3 }]);
    expect(p.flush()).toEqual([]);
  });

  it("keeps escaped newlines inside strings and multi-byte characters cut across chunks", () => {
    const bytes = new TextEncoder().encode('{"line":"a\\nb ✓ é"}\n');
    const cut = bytes.indexOf(0xe2) + 1; // inside the 3-byte check mark
    const p = new NdjsonParser<{ line: string }>();
    expect(p.push(bytes.slice(0, cut))).toEqual([]);
    expect(p.push(bytes.slice(cut))).toEqual([{ line: "a\nb ✓ é" }]);
  });

  it("flushes a last line without newline, and throws on garbage", () => {
    const p = new NdjsonParser();
    expect(p.push('{"type":"summary"}')).toEqual([]);
    expect(p.flush()).toEqual([{ type: "summary" }]);
    expect(() => new NdjsonParser().push("not json\n")).toThrow();
  });
});

describe("readNdjson", () => {
  it("hands batches over as chunks arrive, in order", async () => {
    const batches: unknown[][] = [];
    await readNdjson(streamOf(['{"a":1}\n{"a":', '2}\n{"a":3}\n', '{"type":"summary"}']), (items) => batches.push(items));
    expect(batches).toEqual([[{ a: 1 }], [{ a: 2 }, { a: 3 }], [{ type: "summary" }]]);
  });
});
