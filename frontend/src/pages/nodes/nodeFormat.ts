/**
 * Pure helpers for the node pages: status, "last seen" text, the agent command, label parsing.
 * No React here, so every rule is unit-tested (nodeFormat.test.ts).
 */

/** The fields of a node these helpers read (NodeOut, with the agent fields optional). */
export interface NodeLike {
  kind: "local" | "agent";
  status: "online" | "offline";
  last_seen: string | null;
  enrolled?: boolean | null;
  revoked_at?: string | null;
  enrollment_expires_at?: string | null;
}

/**
 * What the UI says about a node:
 * - online / offline: the engine answers (local) or the agent is connected (agent);
 * - pending: an agent node without a credential (never enrolled, or rotated while offline):
 *   waiting for the agent to enroll with a token;
 * - revoked: an agent node whose credential was revoked and no new token issued.
 */
export type NodeState = "online" | "offline" | "pending" | "revoked";

export function nodeState(node: NodeLike): NodeState {
  if (node.kind === "agent" && node.status !== "online") {
    // A revoked node given a new enrollment token waits for its agent again.
    if (node.revoked_at && !node.enrollment_expires_at) return "revoked";
    if (node.enrolled === false) return "pending";
  }
  return node.status === "online" ? "online" : "offline";
}

function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? null : t;
}

/** Seconds, minutes, hours or days: 12 -> "12 s", 150 -> "2 min", 7200 -> "2 h", 200000 -> "2 d". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** "12 s ago", "3 min ago", "never" (seconds precision, unlike formatRelative's "just now"). */
export function formatLastSeen(iso: string | null | undefined, now: number = Date.now()): string {
  const t = parseTime(iso);
  if (t === null) return "never";
  const s = (now - t) / 1000;
  // A server clock slightly ahead of the browser's: still "0 s ago", not a future date.
  if (s < 1) return "just now";
  return `${formatAge(s)} ago`;
}

/** "expires in 59 min" / "expired 3 min ago" / "" when unknown. */
export function formatExpiry(iso: string | null | undefined, now: number = Date.now()): string {
  const t = parseTime(iso);
  if (t === null) return "";
  const s = (t - now) / 1000;
  return s > 0 ? `expires in ${formatAge(s)}` : `expired ${formatAge(-s)} ago`;
}

export function isExpired(iso: string | null | undefined, now: number = Date.now()): boolean {
  const t = parseTime(iso);
  return t !== null && t <= now;
}

/** One line of status text for a node, e.g. "Online · last seen 3 s ago". */
export function statusLine(node: NodeLike, now: number = Date.now()): string {
  switch (nodeState(node)) {
    case "pending":
      return isExpired(node.enrollment_expires_at, now)
        ? "Waiting for the agent · enrollment token expired"
        : "Waiting for the agent to enroll";
    case "revoked":
      return `Revoked · last seen ${formatLastSeen(node.last_seen, now)}`;
    case "online":
      return `Online · last seen ${formatLastSeen(node.last_seen, now)}`;
    default:
      return `Offline · last seen ${formatLastSeen(node.last_seen, now)}`;
  }
}

// ---------------------------------------------------------------- the agent command

export const DEFAULT_AGENT_DOCKER_HOST = "unix:///var/run/docker.sock";
export const DEFAULT_AGENT_DATA_DIR = "/var/lib/dockyard-agent";

/** Quotes a shell word only when it needs it (POSIX single quotes). */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface AgentCommandOptions {
  server: string;
  token?: string | null;
  dockerHost?: string;
  dataDir?: string;
}

/**
 * `dockyard agent --server … --token … --docker-host … --data-dir …`. Without a token it is
 * the command for later runs (the credential is in the data dir).
 */
export function buildAgentCommand({ server, token, dockerHost = DEFAULT_AGENT_DOCKER_HOST, dataDir = DEFAULT_AGENT_DATA_DIR }: AgentCommandOptions): string {
  const parts = ["dockyard", "agent", "--server", shellQuote(server.replace(/\/+$/, ""))];
  if (token) parts.push("--token", shellQuote(token));
  parts.push("--docker-host", shellQuote(dockerHost), "--data-dir", shellQuote(dataDir));
  return parts.join(" ");
}

/** The server's `agent_command` when it sent one, else the command built for this origin. */
export function enrollmentCommand(enrollment: { enrollment_token: string; agent_command?: string | null }, origin: string): string {
  const fromServer = enrollment.agent_command?.trim();
  return fromServer ? fromServer : buildAgentCommand({ server: origin, token: enrollment.enrollment_token });
}

/** Removes the `--token X` pair from an agent command (for the systemd unit: later runs need none). */
export function withoutToken(command: string): string {
  return command.replace(/\s+--token(?:=|\s+)(?:'[^']*'|"[^"]*"|\S+)/, "");
}

/** A systemd unit that keeps the agent running once it has enrolled. */
export function systemdUnit(command: string): string {
  const exec = withoutToken(command).replace(/^dockyard\b/, "/usr/local/bin/dockyard");
  return [
    "[Unit]",
    "Description=Dockyard agent",
    "After=network-online.target docker.service",
    "Wants=network-online.target",
    "",
    "[Service]",
    `ExecStart=${exec}`,
    "Restart=on-failure",
    "RestartSec=5",
    // Exit code 3: the credential was revoked; restarting would not help.
    "RestartPreventExitStatus=3",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- labels

export const LABEL_KEY_MAX = 63;
export const LABEL_VALUE_MAX = 255;
export const MAX_LABELS = 64;
// The server's rule (nodes/schemas.py LABEL_KEY_PATTERN); the length is checked separately.
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

export interface LabelError {
  line: number;
  message: string;
}

export interface ParsedLabels {
  labels: Record<string, string>;
  errors: LabelError[];
}

/**
 * `key=value` per line (blank lines and `#` comments ignored; spaces around key and value
 * trimmed). Keys: letters, digits, `.`, `_`, `-`, `/`, starting with a letter or digit.
 * At most MAX_LABELS. Errors name the line.
 */
export function parseLabels(text: string): ParsedLabels {
  const labels: Record<string, string> = {};
  const errors: LabelError[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const eq = trimmed.indexOf("=");
    if (eq < 0) {
      errors.push({ line, message: `Line ${line}: write key=value.` });
      return;
    }
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (key === "") {
      errors.push({ line, message: `Line ${line}: the key is empty.` });
    } else if (key.length > LABEL_KEY_MAX) {
      errors.push({ line, message: `Line ${line}: the key is longer than ${LABEL_KEY_MAX} characters.` });
    } else if (!LABEL_KEY.test(key)) {
      errors.push({ line, message: `Line ${line}: “${key}” may only use letters, digits, “.”, “_”, “-” and “/”, and must start with a letter or digit.` });
    } else if (value.length > LABEL_VALUE_MAX) {
      errors.push({ line, message: `Line ${line}: the value is longer than ${LABEL_VALUE_MAX} characters.` });
    } else if (Object.hasOwn(labels, key)) {
      errors.push({ line, message: `Line ${line}: “${key}” is set twice.` });
    } else if (Object.keys(labels).length >= MAX_LABELS) {
      errors.push({ line, message: `Line ${line}: a node has at most ${MAX_LABELS} labels.` });
    } else {
      labels[key] = value;
    }
  });
  return { labels, errors };
}

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const NODE_NAME_MAX = 128;

/** Why a node name is refused (the server's rule), or null when it is fine or still empty. */
export function nodeNameError(name: string): string | null {
  const n = name.trim();
  if (n === "") return null;
  if (n.length > NODE_NAME_MAX) return `At most ${NODE_NAME_MAX} characters.`;
  if (!NODE_NAME.test(n)) return "Letters, digits, “.”, “_” and “-”, starting with a letter or digit.";
  return null;
}

/** Label value as text (labels from the API may hold non-strings). */
export function labelValue(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The editor's text for a node's labels, sorted by key. */
export function labelsToText(labels: Record<string, unknown> | null | undefined): string {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => `${k}=${labelValue(labels?.[k])}`)
    .join("\n");
}

/** Label pills' text: "key=value" or just "key" for an empty value. */
export function labelPills(labels: Record<string, unknown> | null | undefined): string[] {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => {
      const v = labelValue(labels?.[k]);
      return v === "" ? k : `${k}=${v}`;
    });
}

/** Whether two label maps hold the same pairs (to disable "Save" when nothing changed). */
export function sameLabels(a: Record<string, unknown> | null | undefined, b: Record<string, unknown> | null | undefined): boolean {
  return labelsToText(a) === labelsToText(b);
}

// ---------------------------------------------------------------- delete conflict

export interface ServiceRef {
  id: number | null;
  name: string;
}

/** Services named in a 409 "node in use" error's details (best effort over likely shapes). */
export function servicesFromConflict(details: Record<string, unknown> | null | undefined): ServiceRef[] {
  const raw = details?.services ?? details?.service_names ?? null;
  if (!Array.isArray(raw)) return [];
  const out: ServiceRef[] = [];
  for (const item of raw) {
    if (typeof item === "string") out.push({ id: null, name: item });
    else if (item && typeof item === "object") {
      const rec = item as Record<string, unknown>;
      const name = typeof rec.name === "string" ? rec.name : typeof rec.id === "number" ? `service ${rec.id}` : null;
      if (name) out.push({ id: typeof rec.id === "number" ? rec.id : null, name });
    }
  }
  return out;
}
