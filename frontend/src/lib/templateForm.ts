/**
 * The deploy form generated from a template's variables, validated as the server does
 * (`dockyard.templates.variables.resolve_values`): required, number, bool, select options,
 * and `pattern` matched against the whole value.
 */
import type { TemplateVariable } from "@/api/templates";

export const MAX_VALUE_CHARS = 4096;
const NUMBER = /^-?\d+(?:\.\d+)?$/;
const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off", ""]);

export type FormValues = Record<string, string>;

/** The initial form: each variable's default ("false" for a bool without one). */
export function initialValues(variables: readonly TemplateVariable[]): FormValues {
  const values: FormValues = {};
  for (const v of variables) values[v.name] = v.default ?? (v.type === "bool" ? "false" : "");
  return values;
}

/** Python's `re.fullmatch`, near enough: the pattern must match the whole value. */
export function fullMatch(pattern: string, value: string): boolean | null {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`, "u");
  } catch {
    try {
      re = new RegExp(`^(?:${pattern})$`);
    } catch {
      return null; // a pattern JavaScript cannot read: the server decides
    }
  }
  return re.test(value);
}

/** The problem with one value, or null. */
export function validateVariable(variable: TemplateVariable, raw: string | undefined): string | null {
  let value = raw ?? "";
  if (value === "") {
    if (variable.default !== null && variable.default !== undefined && variable.default !== "") value = variable.default;
    else if (variable.required) return "Required";
    else return null;
  }
  if (value.length > MAX_VALUE_CHARS) return `At most ${MAX_VALUE_CHARS} characters`;
  const type = variable.type ?? "string";
  if (type === "number" && !NUMBER.test(value)) return "Must be a number";
  if (type === "bool" && !TRUE.has(value.toLowerCase()) && !FALSE.has(value.toLowerCase())) return "Must be true or false";
  if (type === "select" && !(variable.options ?? []).some((o) => o.value === value)) return "Choose one of the options";
  if (variable.pattern && type !== "bool" && fullMatch(variable.pattern, value) === false) return `Must match ${variable.pattern}`;
  return null;
}

/** Every problem by variable name (empty when the form can be sent). */
export function validateForm(variables: readonly TemplateVariable[], values: FormValues): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const v of variables) {
    const problem = validateVariable(v, values[v.name]);
    if (problem) errors[v.name] = problem;
  }
  return errors;
}

/** The body's `variables`: empty optional fields left out so the server applies defaults. */
export function toRequest(variables: readonly TemplateVariable[], values: FormValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of variables) {
    const value = values[v.name] ?? "";
    if (value !== "") out[v.name] = value;
  }
  return out;
}

/** Server errors like `{path: "variables.NAME"}` mapped back onto the form fields. */
export function serverFieldErrors(details: unknown): Record<string, string> {
  const errors: Record<string, string> = {};
  const list = (details as { errors?: { path?: string; message?: string }[] } | undefined)?.errors ?? [];
  for (const e of list) {
    if (e.path?.startsWith("variables.")) errors[e.path.slice("variables.".length)] = e.message ?? "Invalid";
  }
  return errors;
}

/** A lower-case service name suggestion from a template slug. */
export function suggestName(slug: string): string {
  return slug.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[-_]+/, "").slice(0, 63).replace(/[-_]+$/, "") || "app";
}
