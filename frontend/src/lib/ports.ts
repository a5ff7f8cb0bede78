import type { PortOut } from "@/api/types";

const WILDCARDS = new Set(["", "0.0.0.0", "::", "[::]"]);

/**
 * The URL a published port is reachable at from this browser, or null when it can't be
 * linked (UDP/SCTP, not published). A wildcard bind means "the host the UI came from".
 */
export function portUrl(port: Pick<PortOut, "host_ip" | "host_port" | "protocol">, pageHost: string): string | null {
  if (!port.host_port || (port.protocol || "tcp").toLowerCase() !== "tcp") return null;
  const ip = (port.host_ip ?? "").trim();
  let host = WILDCARDS.has(ip) ? pageHost : ip;
  if (!host) return null;
  // IPv6 literals need brackets in a URL; the page host (location.hostname) already has them.
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `http://${host}:${port.host_port}`;
}

/** "127.0.0.1:18123→80/tcp", "8080→80", "53/udp" (unpublished). */
export function portLabel(port: PortOut): string {
  const proto = (port.protocol || "tcp").toLowerCase();
  const suffix = proto === "tcp" ? "" : `/${proto}`;
  if (!port.host_port) return `${port.container_port}${suffix || "/tcp"}`;
  const ip = port.host_ip && !WILDCARDS.has(port.host_ip) ? `${port.host_ip.includes(":") ? `[${port.host_ip}]` : port.host_ip}:` : "";
  return `${ip}${port.host_port}→${port.container_port}${suffix}`;
}

/** Published ports without duplicates (IPv4 and IPv6 wildcard binds of one port count once). */
export function uniquePorts(ports: readonly PortOut[]): PortOut[] {
  const seen = new Set<string>();
  const out: PortOut[] = [];
  for (const p of ports) {
    const ip = WILDCARDS.has(p.host_ip ?? "") ? "*" : p.host_ip;
    const key = `${ip}|${p.host_port}|${p.container_port}|${(p.protocol || "tcp").toLowerCase()}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}
