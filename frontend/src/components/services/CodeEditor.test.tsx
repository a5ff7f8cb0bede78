import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { CodeEditor } from "./CodeEditor";

function Harness({ initial, issues }: { initial: string; issues?: Map<number, string[]> }) {
  const [value, setValue] = useState(initial);
  return <CodeEditor label="YAML" value={value} onChange={setValue} lineIssues={issues} testId="editor" />;
}

function editor() {
  return screen.getByTestId("editor") as HTMLTextAreaElement;
}

describe("CodeEditor", () => {
  it("numbers the lines and marks lines with problems", () => {
    const { container } = render(<Harness initial={"a: 1\nb: 2\nc: 3"} issues={new Map([[2, ["b is wrong"]]])} />);
    const gutter = container.querySelector("[aria-hidden]")!;
    expect(gutter.textContent).toBe("123");
    expect(gutter.querySelector("[title='b is wrong']")?.textContent).toBe("2");
    expect(editor()).toHaveAttribute("aria-invalid", "true");
  });

  it("inserts two spaces on Tab instead of leaving the field", () => {
    render(<Harness initial="key:" />);
    const ta = editor();
    ta.focus();
    ta.setSelectionRange(0, 0);
    const ev = fireEvent.keyDown(ta, { key: "Tab" });
    expect(ev).toBe(false); // default prevented
    expect(ta.value).toBe("  key:");
  });

  it("lets Tab move focus after Escape (no keyboard trap)", () => {
    render(<Harness initial="key:" />);
    const ta = editor();
    ta.focus();
    fireEvent.keyDown(ta, { key: "Escape" });
    expect(fireEvent.keyDown(ta, { key: "Tab" })).toBe(true); // not prevented
    expect(ta.value).toBe("key:");
  });

  it("indents and outdents every selected line", () => {
    render(<Harness initial={"a:\n  b: 1\nc: 2"} />);
    const ta = editor();
    ta.focus();
    ta.setSelectionRange(0, ta.value.length);
    fireEvent.keyDown(ta, { key: "Tab" });
    expect(ta.value).toBe("  a:\n    b: 1\n  c: 2");
    ta.setSelectionRange(0, ta.value.length);
    fireEvent.keyDown(ta, { key: "Tab", shiftKey: true });
    fireEvent.keyDown(ta, { key: "Tab", shiftKey: true });
    expect(ta.value).toBe("a:\nb: 1\nc: 2");
  });

  it("keeps the indentation on Enter and adds a level after a colon", () => {
    render(<Harness initial={"services:"} />);
    const ta = editor();
    ta.focus();
    ta.setSelectionRange(9, 9);
    fireEvent.keyDown(ta, { key: "Enter" });
    expect(ta.value).toBe("services:\n  ");
  });
});
