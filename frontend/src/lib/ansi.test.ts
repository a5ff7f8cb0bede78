import { describe, expect, it } from "vitest";
import { ansiCss, applySgr, parseAnsi, stripAnsi, xterm256 } from "./ansi";

const E = "\u001b";

describe("parseAnsi", () => {
  it("returns plain text as one unstyled segment", () => {
    expect(parseAnsi("hello world")).toEqual([{ text: "hello world", style: {} }]);
  });

  it("returns no segments for an empty line", () => {
    expect(parseAnsi("")).toEqual([]);
  });

  it("splits on SGR colour codes and resets", () => {
    expect(parseAnsi(`a ${E}[31mred${E}[0m b`)).toEqual([
      { text: "a ", style: {} },
      { text: "red", style: { fg: 1 } },
      { text: " b", style: {} },
    ]);
  });

  it("treats ESC[m as a reset and combines attributes", () => {
    expect(parseAnsi(`${E}[1;4;32mok${E}[mx`)).toEqual([
      { text: "ok", style: { bold: true, underline: true, fg: 2 } },
      { text: "x", style: {} },
    ]);
  });

  it("reads bright, 256 and truecolor colours", () => {
    expect(parseAnsi(`${E}[92ma`)[0]!.style).toEqual({ fg: 10 });
    expect(parseAnsi(`${E}[38;5;208ma`)[0]!.style).toEqual({ fg: 208 });
    expect(parseAnsi(`${E}[48;2;255;0;128ma`)[0]!.style).toEqual({ bg: "#ff0080" });
    expect(parseAnsi(`${E}[38:2::1:2:3ma`)[0]!.style).toEqual({ fg: "#010203" });
    expect(parseAnsi(`${E}[38;2;1;2;3;1ma`)[0]!.style).toEqual({ fg: "#010203", bold: true });
  });

  it("turns individual attributes off", () => {
    let s = applySgr({}, "1;3;4;7;9;31;42");
    s = applySgr(s, "22;23;24;27;29;39;49");
    expect(s).toEqual({});
  });

  it("merges adjacent segments with the same style", () => {
    expect(parseAnsi(`${E}[31ma${E}[31mb`)).toEqual([{ text: "ab", style: { fg: 1 } }]);
  });

  it("strips non-SGR CSI sequences (cursor moves, erase line)", () => {
    expect(stripAnsi(`${E}[2K${E}[1Gprogress ${E}[?25lhidden`)).toBe("progress hidden");
  });

  it("strips OSC sequences terminated by BEL or ST (titles, hyperlinks)", () => {
    expect(stripAnsi(`${E}]0;title\u0007text`)).toBe("text");
    expect(stripAnsi(`${E}]8;;https://x.test${E}\\link${E}]8;;${E}\\`)).toBe("link");
  });

  it("strips charset switches and two-character escapes", () => {
    expect(stripAnsi(`${E}(Babc${E}7def${E}=`)).toBe("abcdef");
  });

  it("drops a truncated sequence at the end of the line", () => {
    expect(stripAnsi(`abc${E}[31`)).toBe("abc");
    expect(stripAnsi(`abc${E}`)).toBe("abc");
  });

  it("removes control characters but keeps tabs", () => {
    expect(stripAnsi("a\u0000b\u0007c\td\u007f")).toBe("abc\td");
  });

  it("resolves carriage-return overwrites like a terminal", () => {
    expect(stripAnsi("10%\r20%\r30%")).toBe("30%");
    expect(stripAnsi("windows line\r")).toBe("windows line");
  });

  it("never produces markup: angle brackets stay text", () => {
    expect(parseAnsi(`<img src=x onerror=alert(1)>${E}[31m<b>`)).toEqual([
      { text: "<img src=x onerror=alert(1)>", style: {} },
      { text: "<b>", style: { fg: 1 } },
    ]);
  });

  it("ignores malformed SGR parameters", () => {
    expect(parseAnsi(`${E}[38;5ma`)[0]!.style).toEqual({});
    expect(parseAnsi(`${E}[38;5;999ma`)[0]!.style).toEqual({});
  });
});

describe("ansiCss", () => {
  it("maps colours and attributes to inline CSS", () => {
    expect(ansiCss({})).toBeUndefined();
    expect(ansiCss({ fg: 1, bold: true })).toEqual({ color: xterm256(9), fontWeight: "600" });
    expect(ansiCss({ bg: "#112233", underline: true, strike: true })).toEqual({
      backgroundColor: "#112233",
      textDecoration: "underline line-through",
    });
  });

  it("swaps colours for inverse", () => {
    expect(ansiCss({ fg: "#ffffff", bg: "#000000", inverse: true })).toMatchObject({ color: "#000000", backgroundColor: "#ffffff" });
  });
});

describe("xterm256", () => {
  it("computes the colour cube and grey ramp", () => {
    expect(xterm256(16)).toBe("#000000");
    expect(xterm256(196)).toBe("#ff0000");
    expect(xterm256(231)).toBe("#ffffff");
    expect(xterm256(232)).toBe("#080808");
    expect(xterm256(255)).toBe("#eeeeee");
  });
});
