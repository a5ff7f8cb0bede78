import { describe, expect, it } from "vitest";
import type { TemplateVariable } from "@/api/templates";
import { fullMatch, initialValues, serverFieldErrors, suggestName, toRequest, validateForm, validateVariable } from "./templateForm";

const v = (over: Partial<TemplateVariable> & { name: string }): TemplateVariable => ({
  label: "",
  description: "",
  type: "string",
  default: null,
  required: false,
  pattern: null,
  options: [],
  ...over,
});

const VARS: TemplateVariable[] = [
  v({ name: "PORT", type: "number", default: "8080", required: true }),
  v({ name: "NAME", required: true, pattern: "[a-z]+" }),
  v({ name: "DEBUG", type: "bool" }),
  v({ name: "MODE", type: "select", default: "a", options: [{ label: "A", value: "a" }, { label: "B", value: "b" }] }),
  v({ name: "PASSWORD", type: "secret", required: true, pattern: ".{8,}" }),
];

describe("template deploy form", () => {
  it("starts from the defaults", () => {
    expect(initialValues(VARS)).toEqual({ PORT: "8080", NAME: "", DEBUG: "false", MODE: "a", PASSWORD: "" });
  });

  it("names each missing required variable", () => {
    expect(validateForm(VARS, initialValues(VARS))).toEqual({ NAME: "Required", PASSWORD: "Required" });
  });

  it("mirrors the server's checks", () => {
    expect(validateVariable(VARS[0]!, "80x")).toBe("Must be a number");
    expect(validateVariable(VARS[0]!, "")).toBeNull(); // the default applies
    expect(validateVariable(VARS[1]!, "web")).toBeNull();
    expect(validateVariable(VARS[1]!, "web1")).toBe("Must match [a-z]+");
    expect(validateVariable(VARS[2]!, "maybe")).toBe("Must be true or false");
    expect(validateVariable(VARS[3]!, "c")).toBe("Choose one of the options");
    expect(validateVariable(VARS[4]!, "short")).toBe("Must match .{8,}");
    expect(validateVariable(VARS[4]!, "x".repeat(5000))).toMatch(/At most/);
    expect(validateForm(VARS, { PORT: "80", NAME: "web", DEBUG: "true", MODE: "b", PASSWORD: "long-enough" })).toEqual({});
  });

  it("matches the whole value, like re.fullmatch", () => {
    expect(fullMatch("a|b", "ab")).toBe(false);
    expect(fullMatch("a|b", "b")).toBe(true);
    expect(fullMatch("(unclosed", "x")).toBeNull();
  });

  it("leaves empty optional values to the server's defaults", () => {
    expect(toRequest(VARS, { PORT: "", NAME: "web", DEBUG: "false", MODE: "a", PASSWORD: "p" })).toEqual({ NAME: "web", DEBUG: "false", MODE: "a", PASSWORD: "p" });
  });

  it("maps server errors to fields", () => {
    expect(serverFieldErrors({ errors: [{ path: "variables.NAME", message: "is required" }, { path: "name", message: "x" }] })).toEqual({ NAME: "is required" });
    expect(suggestName("Uptime_Kuma!")).toBe("uptime_kuma");
  });
});
