import { describe, expect, it } from "vitest";
import { applyServiceEdit, definitionToYaml, lineForPath, parseYaml, serviceKeys, serviceSpec } from "./yamlDoc";

const TEXT = `# my stack
services:
  web:
    image: nginx:1.25  # pinned
    ports:
      - "8080:80"
      - target: 443
        published: 8443
    environment:
      JAVA.OPTS: -Xmx1g
  db:
    image: postgres:16
volumes:
  data: {}
`;

describe("parseYaml", () => {
  it("parses a document", () => {
    const p = parseYaml(TEXT);
    expect(p.errors).toEqual([]);
    expect(serviceKeys(p.value)).toEqual(["web", "db"]);
    expect(serviceSpec(p.value, "db")).toEqual({ image: "postgres:16" });
    expect(serviceSpec(p.value, "nope")).toEqual({});
  });

  it("reports syntax errors with a line", () => {
    const p = parseYaml("services:\n  web:\n    image: [unclosed\n");
    expect(p.errors.length).toBeGreaterThan(0);
    expect(p.errors[0]!.line).toBeGreaterThan(0);
    expect(p.value).toBeNull();
  });

  it("reports duplicate keys", () => {
    expect(parseYaml("a: 1\na: 2\n").errors.length).toBe(1);
  });

  it("resolves merge keys", () => {
    const p = parseYaml("x-base: &base\n  restart: always\nservices:\n  web:\n    <<: *base\n    image: x\n");
    expect(serviceSpec(p.value, "web")).toEqual({ restart: "always", image: "x" });
  });
});

describe("lineForPath", () => {
  const p = parseYaml(TEXT);
  it("finds the line of a path", () => {
    expect(lineForPath(p, "services")).toBe(2);
    expect(lineForPath(p, "services.web.image")).toBe(4);
    expect(lineForPath(p, "services.web.ports.0")).toBe(6);
    expect(lineForPath(p, "services.web.ports.1")).toBe(7);
    expect(lineForPath(p, "services.web.ports.1.published")).toBe(8);
    expect(lineForPath(p, "services.db")).toBe(11);
  });

  it("matches keys that contain dots", () => {
    expect(lineForPath(p, "services.web.environment.JAVA.OPTS")).toBe(10);
  });

  it("falls back to the deepest existing node", () => {
    expect(lineForPath(p, "services.web.healthcheck.test")).toBe(3);
    expect(lineForPath(p, "services.web.ports.9")).toBe(5);
    expect(lineForPath(p, "")).toBe(2);
  });
});

describe("applyServiceEdit", () => {
  it("changes only the edited keys and keeps comments", () => {
    const prev = serviceSpec(parseYaml(TEXT).value, "web");
    const next = { ...prev, image: "nginx:1.27", command: ["nginx", "-g", "daemon off;"] };
    const out = applyServiceEdit(TEXT, "web", next, prev);
    expect(out).toContain("# my stack");
    expect(out).toContain("image: nginx:1.27 # pinned");
    expect(out).toContain("command: [ nginx, -g, daemon off; ]");
    expect(out).toContain(`- "8080:80"`); // untouched list keeps its quoting
    expect(serviceSpec(parseYaml(out).value, "web")).toEqual(next);
  });

  it("removes keys the form cleared", () => {
    const prev = serviceSpec(parseYaml(TEXT).value, "web");
    const { ports: _p, ...next } = prev;
    const out = applyServiceEdit(TEXT, "web", next, prev);
    expect(serviceSpec(parseYaml(out).value, "web")).not.toHaveProperty("ports");
    expect(serviceSpec(parseYaml(out).value, "db")).toEqual({ image: "postgres:16" });
  });

  it("refuses to edit a broken document", () => {
    expect(() => applyServiceEdit("a: [", "web", {}, {})).toThrow(/fix them/);
  });
});

describe("definitionToYaml", () => {
  it("serializes a definition that parses back equal", () => {
    const def = { services: { web: { image: "x", command: ["a", "b c"], environment: { A: null } } } };
    expect(parseYaml(definitionToYaml(def)).value).toEqual(def);
  });
});
