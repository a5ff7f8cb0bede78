/**
 * The simple container form ⇄ a compose service (one entry of `definition.services`).
 *
 * The form covers the common fields (image, ports, environment, volumes, restart,
 * command); `containerFromForm` writes them onto a copy of the original service, so
 * every field the form does not show is kept as it was.
 */

export const PROTOCOLS = ["tcp", "udp", "sctp"] as const;
export type PortProtocol = (typeof PROTOCOLS)[number];
export const RESTART_POLICIES = ["no", "always", "unless-stopped", "on-failure"] as const;

export interface PortRow {
  host_ip: string;
  /** Host port, a range ("8000-8010") or "" for a random/unpublished port. */
  published: string;
  /** Container port or range. */
  target: string;
  protocol: PortProtocol;
}

export interface EnvRow {
  key: string;
  /** null: passed through from the environment (compose `KEY` without `=`). */
  value: string | null;
}

export interface VolumeRow {
  /** A named volume, a host path (`/srv/data`, `./data`) or "" for an anonymous volume. */
  source: string;
  target: string;
  read_only: boolean;
}

export interface ContainerForm {
  image: string;
  /** One compose short-syntax port per row: `8080:80`, `127.0.0.1:8080:80/udp`. */
  ports: string[];
  environment: EnvRow[];
  volumes: VolumeRow[];
  restart: string;
  command: string;
}

export const EMPTY_ENV: EnvRow = { key: "", value: "" };
export const EMPTY_VOLUME: VolumeRow = { source: "", target: "", read_only: false };

export function emptyContainerForm(): ContainerForm {
  return { image: "", ports: [], environment: [], volumes: [], restart: "unless-stopped", command: "" };
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

// ---------------------------------------------------------------- command

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Joins an argument list into one shell-like line, quoting where needed. */
export function formatCommand(args: readonly string[]): string {
  return args.map((a) => (a !== "" && SAFE_ARG.test(a) ? a : `'${a.replace(/'/g, `'"'"'`)}'`)).join(" ");
}

/** Splits a command line like a POSIX shell (quotes and backslashes; no expansion). */
export function parseCommand(line: string): string[] {
  const args: string[] = [];
  let cur = "";
  let inArg = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i += 1) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else cur += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) cur += line[++i]!;
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inArg = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i]!;
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) args.push(cur);
      cur = "";
      inArg = false;
    } else {
      cur += ch;
      inArg = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote === "'" ? "single" : "double"} quote`);
  if (inArg) args.push(cur);
  return args;
}

// ---------------------------------------------------------------- ports

/** Reads `[host_ip:][published:]target[/protocol]` or a long-syntax map into a row. */
export function portRowFrom(entry: unknown): PortRow {
  if (isRecord(entry)) {
    const proto = scalarText(entry.protocol).toLowerCase();
    return {
      host_ip: scalarText(entry.host_ip),
      published: scalarText(entry.published),
      target: scalarText(entry.target),
      protocol: (PROTOCOLS as readonly string[]).includes(proto) ? (proto as PortProtocol) : "tcp",
    };
  }
  const text = scalarText(entry).trim();
  const [spec = "", protoText = ""] = text.split("/", 2);
  const proto = protoText.toLowerCase();
  let host_ip = "";
  let rest = spec;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(spec);
  if (v6) {
    host_ip = v6[1]!;
    rest = v6[2]!;
  }
  const parts = rest.split(":");
  let published = "";
  let target: string;
  if (!v6 && parts.length >= 3) {
    target = parts.pop()!;
    published = parts.pop()!;
    host_ip = parts.join(":");
  } else if (parts.length === 2) {
    [published, target] = parts as [string, string];
  } else {
    target = parts[0] ?? "";
  }
  return {
    host_ip,
    published,
    target,
    protocol: (PROTOCOLS as readonly string[]).includes(proto) ? (proto as PortProtocol) : "tcp",
  };
}

/** A row as compose short syntax: `127.0.0.1:8080:80/udp`. */
export function portRowToString(row: PortRow): string {
  const ip = row.host_ip.trim();
  const published = row.published.trim();
  const target = row.target.trim();
  const host = ip ? `${ip.includes(":") ? `[${ip}]` : ip}:` : "";
  const pub = published ? `${published}:` : ip ? ":" : "";
  const proto = row.protocol && row.protocol !== "tcp" ? `/${row.protocol}` : "";
  return `${host}${pub}${target}${proto}`;
}

// ---------------------------------------------------------------- environment

export function envRowsFrom(env: unknown): EnvRow[] {
  if (Array.isArray(env)) {
    return env.map((item) => {
      const text = scalarText(item);
      const eq = text.indexOf("=");
      return eq === -1 ? { key: text, value: null } : { key: text.slice(0, eq), value: text.slice(eq + 1) };
    });
  }
  if (isRecord(env)) {
    return Object.entries(env).map(([key, value]) => ({ key, value: value === null ? null : scalarText(value) }));
  }
  return [];
}

export function envRowsToMap(rows: readonly EnvRow[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const r of rows) {
    const key = r.key.trim();
    if (!key) continue;
    out[key] = r.value;
  }
  return out;
}

/** Parses `.env`-style text (`KEY=value` per line, `#` comments) into rows. */
export function envRowsFromText(text: string): EnvRow[] {
  const rows: EnvRow[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const body = line.startsWith("export ") ? line.slice(7).trim() : line;
    const eq = body.indexOf("=");
    if (eq === -1) {
      rows.push({ key: body, value: null });
      continue;
    }
    let value = body.slice(eq + 1).trim();
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
      value = value.slice(1, -1);
    }
    rows.push({ key: body.slice(0, eq).trim(), value });
  }
  return rows;
}

// ---------------------------------------------------------------- volumes

export function isHostPath(source: string): boolean {
  return /^(\/|\.|~)/.test(source);
}

export function volumeRowFrom(entry: unknown): VolumeRow {
  if (isRecord(entry)) {
    return { source: scalarText(entry.source), target: scalarText(entry.target), read_only: entry.read_only === true };
  }
  const parts = scalarText(entry).split(":");
  if (parts.length === 1) return { source: "", target: parts[0]!, read_only: false };
  const options = parts[2]?.split(",") ?? [];
  return { source: parts[0]!, target: parts[1]!, read_only: options.includes("ro") };
}

export function volumeRowToString(row: VolumeRow): string {
  const source = row.source.trim();
  const target = row.target.trim();
  if (!source) return target;
  return `${source}:${target}${row.read_only ? ":ro" : ""}`;
}

export function isBlankVolume(row: VolumeRow): boolean {
  return !row.source.trim() && !row.target.trim();
}

// ---------------------------------------------------------------- container

/** The form's view of one compose service. */
export function formFromContainer(spec: unknown): ContainerForm {
  const s = isRecord(spec) ? spec : {};
  const command = s.command;
  return {
    image: scalarText(s.image),
    ports: Array.isArray(s.ports) ? s.ports.map((p) => portRowToString(portRowFrom(p))) : [],
    environment: envRowsFrom(s.environment),
    volumes: Array.isArray(s.volumes) ? s.volumes.map(volumeRowFrom) : [],
    restart: s.restart === undefined || s.restart === null ? "no" : scalarText(s.restart),
    command: Array.isArray(command) ? formatCommand(command.map(scalarText)) : scalarText(command),
  };
}

export interface ContainerResult {
  spec: Json;
  /** For each entry written to `ports`, the form row it came from (blank rows are skipped). */
  portRows: number[];
  volumeRows: number[];
  /** Problems the form can tell without the server (e.g. an unclosed quote). */
  errors: { field: string; message: string }[];
}

/**
 * Writes the form onto `base` (the original service, kept for every other field).
 * Empty lists and defaults are removed rather than written as empty values.
 */
export function containerFromForm(form: ContainerForm, base: unknown = {}, opts: { volumes?: boolean } = {}): ContainerResult {
  const spec: Json = isRecord(base) ? { ...base } : {};
  const errors: ContainerResult["errors"] = [];
  spec.image = form.image.trim();

  const portRows: number[] = [];
  const ports: string[] = [];
  form.ports.forEach((row, i) => {
    const text = row.trim();
    if (!text) return;
    ports.push(text);
    portRows.push(i);
  });
  if (ports.length) spec.ports = ports;
  else delete spec.ports;

  const env = envRowsToMap(form.environment);
  if (Object.keys(env).length) spec.environment = env;
  else delete spec.environment;

  const volumeRows: number[] = [];
  if (opts.volumes !== false) {
    const volumes: string[] = [];
    form.volumes.forEach((row, i) => {
      if (isBlankVolume(row)) return;
      volumes.push(volumeRowToString(row));
      volumeRows.push(i);
    });
    if (volumes.length) spec.volumes = volumes;
    else delete spec.volumes;
  }

  const restart = form.restart.trim();
  if (restart && restart !== "no") spec.restart = restart;
  else delete spec.restart;

  const commandText = form.command.trim();
  if (!commandText) delete spec.command;
  else {
    try {
      spec.command = parseCommand(commandText);
    } catch (err) {
      errors.push({ field: "command", message: err instanceof Error ? err.message : "cannot be split" });
      spec.command = commandText; // the server splits it and reports the same problem
    }
  }
  return { spec, portRows, volumeRows, errors };
}

/** Named volumes the form's rows use (they must be declared at the top level). */
export function namedVolumes(rows: readonly VolumeRow[]): string[] {
  const names = rows.map((r) => r.source.trim()).filter((s) => s && !isHostPath(s));
  return [...new Set(names)];
}

/** The compose service key for a new single-container service. */
export function composeServiceKey(serviceName: string): string {
  const key = serviceName.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9_.-]*$/.test(key) ? key : "app";
}

export interface CreateDefinition {
  definition: Json;
  serviceKey: string;
  portRows: number[];
  volumeRows: number[];
  errors: ContainerResult["errors"];
}

/** A whole `definition` for the single-container create form. */
export function definitionFromForm(serviceName: string, form: ContainerForm): CreateDefinition {
  const serviceKey = composeServiceKey(serviceName);
  const { spec, portRows, volumeRows, errors } = containerFromForm(form, {});
  const definition: Json = { services: { [serviceKey]: spec } };
  const named = namedVolumes(form.volumes);
  if (named.length) definition.volumes = Object.fromEntries(named.map((n) => [n, {}]));
  return { definition, serviceKey, portRows, volumeRows, errors };
}

// ---------------------------------------------------------------- issue paths -> fields

export type FieldKey =
  | { field: "name" | "description" | "image" | "restart" | "command" | "environment" | "ports" | "volumes" | "other" }
  | { field: "port" | "volume"; row: number }
  | { field: "env"; key: string };

/**
 * Which form field a server issue path points at, e.g. `services.web.ports.2` -> port row
 * (via `portRows`, the row each written entry came from).
 */
export function fieldForIssuePath(
  path: string,
  ctx: { serviceKey: string; portRows: readonly number[]; volumeRows: readonly number[] },
): FieldKey {
  const p = path.replace(/^body\./, "").replace(/^definition\./, "");
  if (p === "name") return { field: "name" };
  if (p === "description") return { field: "description" };
  const prefix = `services.${ctx.serviceKey}.`;
  if (!p.startsWith(prefix)) return { field: "other" };
  const rest = p.slice(prefix.length).split(".");
  const [head, idx] = rest;
  switch (head) {
    case "image":
    case "restart":
    case "command":
      return { field: head };
    case "ports":
    case "volumes": {
      const n = idx !== undefined && /^\d+$/.test(idx) ? Number(idx) : null;
      const map = head === "ports" ? ctx.portRows : ctx.volumeRows;
      if (n !== null && map[n] !== undefined) return { field: head === "ports" ? "port" : "volume", row: map[n]! };
      return { field: head };
    }
    case "environment":
      return idx ? { field: "env", key: rest.slice(1).join(".") } : { field: "environment" };
    default:
      return { field: "other" };
  }
}

export function fieldKeyId(k: FieldKey): string {
  if (k.field === "port" || k.field === "volume") return `${k.field}.${k.row}`;
  if (k.field === "env") return `env.${k.key}`;
  return k.field;
}
