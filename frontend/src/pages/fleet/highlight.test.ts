import { describe, expect, it } from "vitest";
import { highlight, matcher, splitByRanges } from "./highlight";

describe("highlight", () => {
  it("marks case-insensitive substrings", () => {
    expect(highlight("Error: disk error", "ERROR", false)).toEqual([
      { text: "Error", mark: true },
      { text: ": disk ", mark: false },
      { text: "error", mark: true },
    ]);
  });

  it("treats regex characters literally unless regex is on", () => {
    expect(highlight("a.b axb", "a.b", false)).toEqual([
      { text: "a.b", mark: true },
      { text: " axb", mark: false },
    ]);
    expect(highlight("a.b axb", "a.b", true).filter((s) => s.mark).map((s) => s.text)).toEqual(["a.b", "axb"]);
  });

  it("survives empty matches and invalid patterns", () => {
    expect(matcher("x*", true)("abc")).toEqual([]);
    expect(highlight("abc", "(", true)).toEqual([{ text: "abc", mark: false }]);
    expect(highlight("abc", "", false)).toEqual([{ text: "abc", mark: false }]);
  });

  it("splits at ranges, clipping overlaps", () => {
    expect(splitByRanges("abcdef", [{ start: 1, end: 3 }, { start: 2, end: 4 }])).toEqual([
      { text: "a", mark: false },
      { text: "bc", mark: true },
      { text: "d", mark: true },
      { text: "ef", mark: false },
    ]);
    expect(splitByRanges("", [])).toEqual([{ text: "", mark: false }]);
  });
});
