import { describe, expect, it } from "vitest";
import { formatLabels, formatRanges, parseLabels, parseRanges, targetFields, targetFromValue, targetValue } from "./placementFormat";

describe("parseLabels", () => {
  it("reads key=value lines and commas", () => {
    expect(parseLabels("disk=ssd\n zone = a ,gpu=")).toEqual({ value: { disk: "ssd", zone: "a", gpu: "" }, errors: [] });
  });
  it("names bad and repeated entries", () => {
    expect(parseLabels("oops\n=x\na=1\na=2").errors).toEqual(['"oops" is not key=value', '"=x" is not key=value', "label a is given twice"]);
  });
  it("round-trips through formatLabels", () => {
    expect(parseLabels(formatLabels({ a: "1", b: "x=y" })).value).toEqual({ a: "1", b: "x=y" });
  });
});

describe("parseRanges", () => {
  it("reads ranges and single ports", () => {
    expect(parseRanges("20000-29999, 31000\n32000 - 32010")).toEqual({
      value: [
        { start: 20000, end: 29999 },
        { start: 31000, end: 31000 },
        { start: 32000, end: 32010 },
      ],
      errors: [],
    });
  });
  it("refuses what the server refuses", () => {
    expect(parseRanges("80-90").errors).toEqual(["80-90: ports must be within 1024-65535"]);
    expect(parseRanges("3000-2000").errors).toEqual(["3000-2000: the range is reversed"]);
    expect(parseRanges("20000-21000, 21000-22000").errors).toEqual(["21000-22000 overlaps 20000-21000"]);
    expect(parseRanges("a-b").errors).toEqual(['"a-b" is not a range like 20000-29999']);
  });
  it("formats back", () => {
    expect(formatRanges([{ start: 20000, end: 29999 }, { start: 8080, end: 8080 }])).toBe("20000-29999, 8080");
  });
});

describe("targets", () => {
  it("map select values to request fields", () => {
    expect(targetFields(targetFromValue("auto"))).toEqual({});
    expect(targetFields(targetFromValue("node:3"))).toEqual({ node_id: 3 });
    expect(targetFields(targetFromValue("cluster:2"))).toEqual({ cluster_id: 2 });
    expect(targetFromValue("node:x")).toEqual({ kind: "auto" });
    expect(targetValue({ kind: "cluster", clusterId: 9 })).toBe("cluster:9");
  });
});
