import { describe, expect, it } from "vitest";
import {
  composeServiceKey,
  containerFromForm,
  definitionFromForm,
  emptyContainerForm,
  envRowsFromText,
  fieldForIssuePath,
  formatCommand,
  formFromContainer,
  parseCommand,
  portRowFrom,
  portRowToString,
  volumeRowFrom,
  volumeRowToString,
} from "./definitionForm";

describe("command", () => {
  it("splits like a shell", () => {
    expect(parseCommand(`httpd -f -p 80`)).toEqual(["httpd", "-f", "-p", "80"]);
    expect(parseCommand(`sh -c 'echo "hi there"; sleep 1'`)).toEqual(["sh", "-c", `echo "hi there"; sleep 1`]);
    expect(parseCommand(`echo "a \\"b\\"" c\\ d ''`)).toEqual(["echo", `a "b"`, "c d", ""]);
    expect(() => parseCommand(`echo 'oops`)).toThrow(/unterminated single quote/);
  });

  it("joins with quoting, and round-trips", () => {
    const args = ["sh", "-c", `echo "it's" $HOME`, "", "plain"];
    const line = formatCommand(args);
    expect(line).toBe(`sh -c 'echo "it'"'"'s" $HOME' '' plain`);
    expect(parseCommand(line)).toEqual(args);
  });
});

describe("ports", () => {
  it("reads short syntax", () => {
    expect(portRowFrom("8080:80")).toEqual({ host_ip: "", published: "8080", target: "80", protocol: "tcp" });
    expect(portRowFrom("127.0.0.1:18123:80")).toEqual({ host_ip: "127.0.0.1", published: "18123", target: "80", protocol: "tcp" });
    expect(portRowFrom("127.0.0.1::80/udp")).toEqual({ host_ip: "127.0.0.1", published: "", target: "80", protocol: "udp" });
    expect(portRowFrom("[::1]:53:53/udp")).toEqual({ host_ip: "::1", published: "53", target: "53", protocol: "udp" });
    expect(portRowFrom(9000)).toEqual({ host_ip: "", published: "", target: "9000", protocol: "tcp" });
    expect(portRowFrom("8000-8002:8000-8002")).toMatchObject({ published: "8000-8002", target: "8000-8002" });
  });

  it("reads long syntax (the canonical form)", () => {
    expect(portRowFrom({ target: 80, published: 18123, host_ip: "127.0.0.1", protocol: "tcp" })).toEqual({
      host_ip: "127.0.0.1",
      published: "18123",
      target: "80",
      protocol: "tcp",
    });
  });

  it("writes short syntax and round-trips", () => {
    for (const s of ["8080:80", "127.0.0.1:18123:80", "127.0.0.1::80/udp", "[::1]:53:53/udp", "9000", "8000-8002:8000-8002/sctp"]) {
      expect(portRowToString(portRowFrom(s))).toBe(s);
    }
  });
});

describe("volumes and env text", () => {
  it("reads and writes volume rows", () => {
    expect(volumeRowFrom("data:/var/lib/data")).toEqual({ source: "data", target: "/var/lib/data", read_only: false });
    expect(volumeRowFrom("./conf:/etc/app:ro")).toEqual({ source: "./conf", target: "/etc/app", read_only: true });
    expect(volumeRowFrom("/cache")).toEqual({ source: "", target: "/cache", read_only: false });
    expect(volumeRowFrom({ type: "bind", source: "/srv", target: "/srv", read_only: true })).toEqual({ source: "/srv", target: "/srv", read_only: true });
    expect(volumeRowToString({ source: "./conf", target: "/etc/app", read_only: true })).toBe("./conf:/etc/app:ro");
    expect(volumeRowToString({ source: "", target: "/cache", read_only: false })).toBe("/cache");
  });

  it("parses .env text", () => {
    expect(envRowsFromText(`# comment\nA=1\nexport B="two words"\nC\n\nD='x=y'`)).toEqual([
      { key: "A", value: "1" },
      { key: "B", value: "two words" },
      { key: "C", value: null },
      { key: "D", value: "x=y" },
    ]);
  });
});

describe("formFromContainer / containerFromForm", () => {
  const canonical = {
    image: "dockyard-test/busybox:1",
    command: ["httpd", "-f", "-p", "80"],
    environment: { A: "1", PASS: null },
    ports: [{ target: 80, published: 18123, host_ip: "127.0.0.1", protocol: "tcp" }],
    restart: "unless-stopped",
    healthcheck: { test: ["CMD", "true"] },
    mem_limit: 67108864,
  };

  it("reads the common fields of a canonical service", () => {
    expect(formFromContainer(canonical)).toEqual({
      image: "dockyard-test/busybox:1",
      command: "httpd -f -p 80",
      environment: [
        { key: "A", value: "1" },
        { key: "PASS", value: null },
      ],
      ports: ["127.0.0.1:18123:80"],
      volumes: [],
      restart: "unless-stopped",
    });
  });

  it("reads list-style environment and a string command", () => {
    const f = formFromContainer({ image: "x", environment: ["A=1", "B"], command: "npm start" });
    expect(f.environment).toEqual([
      { key: "A", value: "1" },
      { key: "B", value: null },
    ]);
    expect(f.command).toBe("npm start");
    expect(f.restart).toBe("no");
  });

  it("writes the form back, keeping fields it does not show", () => {
    const form = formFromContainer(canonical);
    form.image = "dockyard-test/busybox:2";
    form.ports.push("  "); // blank row: skipped
    form.ports.push(" 9090:90/udp ");
    const { spec, portRows, errors } = containerFromForm(form, canonical, { volumes: false });
    expect(errors).toEqual([]);
    expect(spec).toEqual({
      image: "dockyard-test/busybox:2",
      command: ["httpd", "-f", "-p", "80"],
      environment: { A: "1", PASS: null },
      ports: ["127.0.0.1:18123:80", "9090:90/udp"],
      restart: "unless-stopped",
      healthcheck: { test: ["CMD", "true"] },
      mem_limit: 67108864,
    });
    expect(portRows).toEqual([0, 2]);
  });

  it("removes emptied fields and the default restart policy", () => {
    const form = { ...formFromContainer(canonical), ports: [], environment: [], command: "", restart: "no" };
    const { spec } = containerFromForm(form, canonical);
    expect(spec).not.toHaveProperty("ports");
    expect(spec).not.toHaveProperty("environment");
    expect(spec).not.toHaveProperty("command");
    expect(spec).not.toHaveProperty("restart");
    expect(spec.mem_limit).toBe(67108864);
  });

  it("reports an unsplittable command but still sends it", () => {
    const { spec, errors } = containerFromForm({ ...emptyContainerForm(), image: "x", command: "echo 'x" });
    expect(errors).toEqual([{ field: "command", message: "unterminated single quote" }]);
    expect(spec.command).toBe("echo 'x");
  });

  it("round-trips form -> spec -> form", () => {
    const form = {
      image: "nginx:1.27",
      ports: ["127.0.0.1:8080:80"],
      environment: [{ key: "TZ", value: "UTC" }],
      volumes: [{ source: "html", target: "/usr/share/nginx/html", read_only: true }],
      restart: "always",
      command: `nginx -g 'daemon off;'`,
    };
    expect(formFromContainer(containerFromForm(form).spec)).toEqual(form);
  });
});

describe("definitionFromForm", () => {
  it("builds a one-service definition and declares named volumes", () => {
    const form = {
      ...emptyContainerForm(),
      image: "postgres:16",
      volumes: [
        { source: "pgdata", target: "/var/lib/postgresql/data", read_only: false },
        { source: "./init", target: "/docker-entrypoint-initdb.d", read_only: true },
        { source: "", target: "", read_only: false },
      ],
    };
    const { definition, serviceKey, volumeRows } = definitionFromForm("db", form);
    expect(serviceKey).toBe("db");
    expect(definition).toEqual({
      services: {
        db: {
          image: "postgres:16",
          volumes: ["pgdata:/var/lib/postgresql/data", "./init:/docker-entrypoint-initdb.d:ro"],
          restart: "unless-stopped",
        },
      },
      volumes: { pgdata: {} },
    });
    expect(volumeRows).toEqual([0, 1]);
  });

  it("falls back to `app` for an unusable service key", () => {
    expect(composeServiceKey("")).toBe("app");
    expect(composeServiceKey("My Service")).toBe("app");
    expect(composeServiceKey("web")).toBe("web");
  });
});

describe("fieldForIssuePath", () => {
  const ctx = { serviceKey: "web", portRows: [0, 2], volumeRows: [1] };
  it("maps server paths to form fields", () => {
    expect(fieldForIssuePath("name", ctx)).toEqual({ field: "name" });
    expect(fieldForIssuePath("services.web.image", ctx)).toEqual({ field: "image" });
    expect(fieldForIssuePath("services.web.ports.1", ctx)).toEqual({ field: "port", row: 2 });
    expect(fieldForIssuePath("services.web.ports", ctx)).toEqual({ field: "ports" });
    expect(fieldForIssuePath("services.web.volumes.0.source", ctx)).toEqual({ field: "volume", row: 1 });
    expect(fieldForIssuePath("services.web.environment.JAVA.OPTS", ctx)).toEqual({ field: "env", key: "JAVA.OPTS" });
    expect(fieldForIssuePath("services.web.healthcheck", ctx)).toEqual({ field: "other" });
    expect(fieldForIssuePath("volumes.data", ctx)).toEqual({ field: "other" });
    expect(fieldForIssuePath("body.definition.services.web.restart", ctx)).toEqual({ field: "restart" });
  });
});
