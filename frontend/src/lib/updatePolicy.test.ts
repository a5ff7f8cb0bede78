import { describe, expect, it } from "vitest";
import { cronProblem, formFromPolicy, policyBody, serverErrors, shortDigest, validatePolicy, type PolicyForm } from "./updatePolicy";

const ZONES = ["UTC", "Europe/Berlin", "America/New_York"];

function form(over: Partial<PolicyForm> = {}): PolicyForm {
  return { ...formFromPolicy(undefined), mode: "auto", ...over };
}

describe("update policy form", () => {
  it("accepts the defaults", () => {
    expect(validatePolicy(form(), ZONES)).toEqual({});
  });

  it("refuses a cron with 6 fields and one that never matches", () => {
    expect(validatePolicy(form({ frequency: "cron", cron: "0 0 * * * *" }), ZONES)["schedule.cron"]).toMatch(/5 fields/);
    expect(validatePolicy(form({ frequency: "cron", cron: "0 0 31 2 *" }), ZONES)["schedule.cron"]).toMatch(/never matches/);
    expect(validatePolicy(form({ frequency: "cron", cron: "0 0 30,31 feb *" }), ZONES)["schedule.cron"]).toMatch(/never matches/);
    expect(validatePolicy(form({ frequency: "cron", cron: "" }), ZONES)["schedule.cron"]).toMatch(/required/);
    expect(cronProblem("61 * * * *")).toMatch(/0-59/);
    expect(cronProblem("*/15 2-4 * * 1-5")).toBeNull();
    expect(cronProblem("0 0 29 2 *")).toBeNull();
  });

  it("needs weekdays for a weekly schedule and a known timezone", () => {
    const errors = validatePolicy(form({ frequency: "weekly", weekdays: [], timezone: "Mars/Olympus" }), ZONES);
    expect(Object.keys(errors).sort()).toEqual(["schedule.timezone", "schedule.weekdays"]);
    expect(validatePolicy(form({ frequency: "weekly", weekdays: ["mon"] }), ZONES)).toEqual({});
  });

  it("checks times and verify seconds", () => {
    const errors = validatePolicy(form({ time: "25:00", timeoutS: "0", settleS: "abc" }), ZONES);
    expect(Object.keys(errors).sort()).toEqual(["schedule.time", "verify.settle_s", "verify.timeout_s"]);
    expect(validatePolicy(form({ windowEnabled: true, windowStart: "1:00" }), ZONES)["maintenance_window.start"]).toBeDefined();
  });

  it("builds the API body for each frequency", () => {
    expect(policyBody(form({ frequency: "weekly", weekdays: ["sat", "mon"], time: "03:30" })).schedule).toEqual({
      frequency: "weekly",
      time: "03:30",
      weekdays: ["mon", "sat"],
      timezone: "UTC",
    });
    const cron = policyBody(form({ frequency: "cron", cron: " 15  2 * * * ", timeoutS: "30", settleS: "5", removeOldImages: true }));
    expect(cron.schedule).toEqual({ frequency: "cron", cron: "15 2 * * *", timezone: "UTC" });
    expect(cron.verify).toEqual({ timeout_s: 30, settle_s: 5 });
    expect(cron.remove_old_images).toBe(true);
    expect(cron.maintenance_window).toBeNull();
  });

  it("maps the server's field paths and shortens digests", () => {
    expect(serverErrors({ errors: [{ path: "body.schedule.cron", message: "bad" }] })).toEqual({ "schedule.cron": "bad" });
    expect(shortDigest("127.0.0.1:5000/x/app@sha256:0123456789abcdef")).toBe("sha256:0123456789ab");
    expect(shortDigest(null)).toBe("—");
  });
});
