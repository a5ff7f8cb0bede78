import { describe, expect, it } from "vitest";
import { jobActor, jobDuration, jobTitle } from "./JobBits";

describe("job helpers", () => {
  const t0 = "2025-01-01T00:00:00Z";
  const at = (s: number) => new Date(Date.parse(t0) + s * 1000).toISOString();

  it("formats durations", () => {
    expect(jobDuration({ started_at: null, finished_at: null })).toBe("—");
    expect(jobDuration({ started_at: t0, finished_at: at(1.25) })).toBe("1.3 s");
    expect(jobDuration({ started_at: t0, finished_at: at(42) })).toBe("42 s");
    expect(jobDuration({ started_at: t0, finished_at: at(184) })).toBe("3 min 4 s");
    expect(jobDuration({ started_at: t0, finished_at: at(120) })).toBe("2 min");
    expect(jobDuration({ started_at: t0, finished_at: at(3720) })).toBe("1 h 2 min");
    expect(jobDuration({ started_at: t0, finished_at: null }, Date.parse(t0) + 5000)).toBe("5.0 s");
  });

  it("names the actor and the job", () => {
    expect(jobActor({ actor_type: "user", actor_label: "a@b.c", actor_id: "1" })).toBe("a@b.c");
    expect(jobActor({ actor_type: "token", actor_label: null, actor_id: "7" })).toBe("token:7");
    expect(jobActor({ actor_type: "system", actor_label: null, actor_id: null })).toBe("system");
    expect(jobTitle({ kind: "service.deploy", params: { service: "web", revision: 3 } })).toBe("Deploy web r3");
    expect(jobTitle({ kind: "service.stop", params: {} })).toBe("Stop");
  });
});
