import { describe, expect, it } from "vitest";
import {
  buildAgentCommand,
  enrollmentCommand,
  formatAge,
  formatExpiry,
  formatLastSeen,
  labelPills,
  labelsToText,
  nodeNameError,
  nodeState,
  parseLabels,
  sameLabels,
  servicesFromConflict,
  shellQuote,
  statusLine,
  systemdUnit,
  withoutToken,
  type NodeLike,
} from "./nodeFormat";

const NOW = Date.parse("2026-01-01T12:00:00Z");
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

const agent = (over: Partial<NodeLike> = {}): NodeLike => ({ kind: "agent", status: "offline", last_seen: null, enrolled: true, revoked_at: null, ...over });

describe("nodeState", () => {
  it("reports online and offline from the status", () => {
    expect(nodeState({ kind: "local", status: "online", last_seen: null })).toBe("online");
    expect(nodeState({ kind: "local", status: "offline", last_seen: null })).toBe("offline");
    expect(nodeState(agent({ status: "online" }))).toBe("online");
    expect(nodeState(agent())).toBe("offline");
  });

  it("an agent that never enrolled is pending, a revoked one is revoked", () => {
    expect(nodeState(agent({ enrolled: false }))).toBe("pending");
    expect(nodeState(agent({ enrolled: false, revoked_at: ago(5) }))).toBe("revoked");
    // A revoked node with a new enrollment token waits for its agent again.
    expect(nodeState(agent({ enrolled: false, revoked_at: ago(5), enrollment_expires_at: ago(-60) }))).toBe("pending");
    // Once it is online again (re-enrolled), it is online.
    expect(nodeState(agent({ status: "online", enrolled: true, revoked_at: ago(5) }))).toBe("online");
  });

  it("does not call a node pending when the server omits `enrolled`", () => {
    expect(nodeState({ kind: "agent", status: "offline", last_seen: null })).toBe("offline");
  });

  it("a local node is never pending or revoked", () => {
    expect(nodeState({ kind: "local", status: "offline", last_seen: null, enrolled: false, revoked_at: ago(1) })).toBe("offline");
  });
});

describe("formatLastSeen / formatAge / formatExpiry", () => {
  it("counts seconds, minutes, hours and days", () => {
    expect(formatLastSeen(ago(12), NOW)).toBe("12 s ago");
    expect(formatLastSeen(ago(59.9), NOW)).toBe("59 s ago");
    expect(formatLastSeen(ago(60), NOW)).toBe("1 min ago");
    expect(formatLastSeen(ago(3599), NOW)).toBe("59 min ago");
    expect(formatLastSeen(ago(7200), NOW)).toBe("2 h ago");
    expect(formatLastSeen(ago(3 * 86400 + 5), NOW)).toBe("3 d ago");
  });

  it("never, just now, and a server clock ahead of the browser", () => {
    expect(formatLastSeen(null, NOW)).toBe("never");
    expect(formatLastSeen("not a date", NOW)).toBe("never");
    expect(formatLastSeen(ago(0.2), NOW)).toBe("just now");
    expect(formatLastSeen(ago(-3), NOW)).toBe("just now");
  });

  it("formatAge floors and clamps", () => {
    expect(formatAge(-5)).toBe("0 s");
    expect(formatAge(119)).toBe("1 min");
    expect(formatAge(86399)).toBe("23 h");
  });

  it("expiry in the future and in the past", () => {
    expect(formatExpiry(new Date(NOW + 3540_000).toISOString(), NOW)).toBe("expires in 59 min");
    expect(formatExpiry(ago(180), NOW)).toBe("expired 3 min ago");
    expect(formatExpiry(null, NOW)).toBe("");
  });

  it("statusLine", () => {
    expect(statusLine(agent({ status: "online", last_seen: ago(3) }), NOW)).toBe("Online · last seen 3 s ago");
    expect(statusLine(agent({ last_seen: ago(125) }), NOW)).toBe("Offline · last seen 2 min ago");
    expect(statusLine(agent({ enrolled: false, enrollment_expires_at: ago(1) }), NOW)).toBe("Waiting for the agent · enrollment token expired");
    expect(statusLine(agent({ enrolled: false, enrollment_expires_at: new Date(NOW + 60_000).toISOString() }), NOW)).toBe("Waiting for the agent to enroll");
  });
});

describe("the agent command", () => {
  it("builds the exact command with defaults", () => {
    expect(buildAgentCommand({ server: "https://dockyard.example.com/", token: "dye_abc123.ff00" })).toBe(
      "dockyard agent --server https://dockyard.example.com --token dye_abc123.ff00 --docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent",
    );
  });

  it("leaves the token out for later runs and quotes unsafe words", () => {
    expect(buildAgentCommand({ server: "http://10.0.0.1:8000", dockerHost: "unix:///run/my docker.sock", dataDir: "/srv/agent" })).toBe(
      "dockyard agent --server http://10.0.0.1:8000 --docker-host 'unix:///run/my docker.sock' --data-dir /srv/agent",
    );
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("$(rm -rf /)")).toBe("'$(rm -rf /)'");
  });

  it("prefers the server's agent_command", () => {
    expect(enrollmentCommand({ enrollment_token: "dye_x", agent_command: "dockyard agent --server https://a --token dye_x" }, "http://b")).toBe(
      "dockyard agent --server https://a --token dye_x",
    );
    expect(enrollmentCommand({ enrollment_token: "dye_x", agent_command: "  " }, "http://b:8000")).toBe(
      "dockyard agent --server http://b:8000 --token dye_x --docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent",
    );
  });

  it("the systemd unit runs the command without the token", () => {
    const cmd = "dockyard agent --server https://a --token dye_secret.abc --docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent";
    expect(withoutToken(cmd)).toBe("dockyard agent --server https://a --docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent");
    expect(withoutToken("dockyard agent --token='dye x' --server s")).toBe("dockyard agent --server s");
    const unit = systemdUnit(cmd);
    expect(unit).not.toContain("dye_secret");
    expect(unit).toContain("ExecStart=/usr/local/bin/dockyard agent --server https://a --docker-host");
    expect(unit).toContain("RestartPreventExitStatus=3");
    expect(unit).toContain("WantedBy=multi-user.target");
  });
});

describe("labels", () => {
  it("parses key=value lines, trimming and skipping blanks and comments", () => {
    expect(parseLabels("zone = eu-west\n\n# a comment\ngpu=true\nempty=\nurl=http://x/?a=b")).toEqual({
      labels: { zone: "eu-west", gpu: "true", empty: "", url: "http://x/?a=b" },
      errors: [],
    });
    expect(parseLabels("")).toEqual({ labels: {}, errors: [] });
  });

  it("names the line of each mistake", () => {
    const { labels, errors } = parseLabels("ok=1\nnoequals\n=v\nbad key=1\nok=2\n-x=1\n" + "k".repeat(64) + "=1\nlong=" + "v".repeat(256));
    expect(labels).toEqual({ ok: "1" });
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(errors[0]?.message).toBe("Line 2: write key=value.");
    expect(errors[1]?.message).toBe("Line 3: the key is empty.");
    expect(errors[2]?.message).toContain("“bad key”");
    expect(errors[3]?.message).toBe("Line 5: “ok” is set twice.");
    expect(errors[5]?.message).toContain("longer than 63");
    expect(errors[6]?.message).toContain("longer than 255");
  });

  it("accepts dotted and slashed keys", () => {
    expect(parseLabels("com.example/zone=a\nx_y-z.1=b\ntrailing-=c").errors).toEqual([]);
  });

  it("refuses more than 64 labels", () => {
    const text = Array.from({ length: 65 }, (_, i) => `k${i}=v`).join("\n");
    const { labels, errors } = parseLabels(text);
    expect(Object.keys(labels)).toHaveLength(64);
    expect(errors).toEqual([{ line: 65, message: "Line 65: a node has at most 64 labels." }]);
  });

  it("round-trips through the editor text, sorted, with non-string values as JSON", () => {
    const text = labelsToText({ zone: "eu", gpu: true, a: 1 });
    expect(text).toBe("a=1\ngpu=true\nzone=eu");
    expect(parseLabels(text).labels).toEqual({ a: "1", gpu: "true", zone: "eu" });
    expect(labelsToText(null)).toBe("");
  });

  it("pills and equality", () => {
    expect(labelPills({ b: "", a: "x" })).toEqual(["a=x", "b"]);
    expect(sameLabels({ a: "1", b: "2" }, { b: "2", a: "1" })).toBe(true);
    expect(sameLabels({ a: "1" }, { a: "2" })).toBe(false);
    expect(sameLabels({}, undefined)).toBe(true);
  });
});

describe("nodeNameError", () => {
  it("follows the server's rule", () => {
    expect(nodeNameError("")).toBeNull();
    expect(nodeNameError(" edge-01.eu_w ")).toBeNull();
    expect(nodeNameError("edge 01")).toContain("Letters, digits");
    expect(nodeNameError("-edge")).toContain("starting with");
    expect(nodeNameError("a".repeat(129))).toBe("At most 128 characters.");
  });
});

describe("servicesFromConflict", () => {
  it("reads services from the 409 details in the likely shapes", () => {
    expect(servicesFromConflict({ services: [{ id: 4, name: "web" }, "db", { id: 9 }] })).toEqual([
      { id: 4, name: "web" },
      { id: null, name: "db" },
      { id: 9, name: "service 9" },
    ]);
    expect(servicesFromConflict({ service_names: ["a"] })).toEqual([{ id: null, name: "a" }]);
    expect(servicesFromConflict({ services: "web" })).toEqual([]);
    expect(servicesFromConflict(null)).toEqual([]);
  });
});
