import { describe, expect, it } from "vitest";
import { portLabel, portUrl, uniquePorts } from "./ports";

const p = (host_ip: string | null, host_port: number | null, container_port = 80, protocol = "tcp") => ({ host_ip, host_port, container_port, protocol });

describe("portUrl", () => {
  it("uses the page host for wildcard binds", () => {
    expect(portUrl(p("0.0.0.0", 8080), "dockyard.lan")).toBe("http://dockyard.lan:8080");
    expect(portUrl(p("", 8080), "dockyard.lan")).toBe("http://dockyard.lan:8080");
    expect(portUrl(p(null, 8080), "dockyard.lan")).toBe("http://dockyard.lan:8080");
    expect(portUrl(p("::", 8080), "dockyard.lan")).toBe("http://dockyard.lan:8080");
  });

  it("uses the bound address otherwise, bracketing IPv6", () => {
    expect(portUrl(p("127.0.0.1", 18123), "dockyard.lan")).toBe("http://127.0.0.1:18123");
    expect(portUrl(p("::1", 18123), "x")).toBe("http://[::1]:18123");
  });

  it("links only published TCP ports", () => {
    expect(portUrl(p("0.0.0.0", 53, 53, "udp"), "x")).toBeNull();
    expect(portUrl(p(null, null), "x")).toBeNull();
  });
});

describe("portLabel / uniquePorts", () => {
  it("labels ports compactly", () => {
    expect(portLabel(p("0.0.0.0", 8080))).toBe("8080→80");
    expect(portLabel(p("127.0.0.1", 18123))).toBe("127.0.0.1:18123→80");
    expect(portLabel(p(null, 5353, 53, "udp"))).toBe("5353→53/udp");
    expect(portLabel(p(null, null, 9000))).toBe("9000/tcp");
  });

  it("collapses IPv4 and IPv6 wildcard binds of one port", () => {
    expect(uniquePorts([p("0.0.0.0", 8080), p("::", 8080), p("127.0.0.1", 8080)])).toHaveLength(2);
  });
});
