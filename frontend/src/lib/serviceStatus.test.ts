import { describe, expect, it } from "vitest";
import type { JobOut } from "@/api/types";
import { actionProgressive, actionState, jobKindLabel, matchesStatusFilter, parseStatusFilter, statusView } from "./serviceStatus";

const job = (status: JobOut["status"], kind = "service.deploy") => ({ status, kind }) as JobOut;

describe("statusView", () => {
  it("maps each status to its colour", () => {
    expect(statusView("running").tone).toBe("success");
    expect(statusView("partial").tone).toBe("warning");
    expect(statusView("restarting").tone).toBe("warning");
    expect(statusView("unhealthy").tone).toBe("danger");
    expect(statusView("error").tone).toBe("danger");
    expect(statusView("stopped").tone).toBe("neutral");
    expect(statusView("not_deployed")).toMatchObject({ tone: "outline", label: "Not deployed" });
  });

  it("shows unknown statuses as grey text", () => {
    expect(statusView("paused_weird")).toMatchObject({ tone: "neutral", label: "Paused weird" });
  });
});

describe("status filter", () => {
  it("parses only known values", () => {
    expect(parseStatusFilter("running")).toBe("running");
    expect(parseStatusFilter("drift")).toBe("drift");
    expect(parseStatusFilter("bogus")).toBe("");
    expect(parseStatusFilter(null)).toBe("");
  });

  it("matches by status or drift", () => {
    expect(matchesStatusFilter({ status: "running", drift: false }, "")).toBe(true);
    expect(matchesStatusFilter({ status: "running", drift: false }, "stopped")).toBe(false);
    expect(matchesStatusFilter({ status: "running", drift: true }, "drift")).toBe(true);
  });
});

describe("actionState", () => {
  const base = { status: "running" as const, deployed_revision: 1, active_job: null };

  it("allows everything but start on a running service", () => {
    expect(actionState(base, "stop").enabled).toBe(true);
    expect(actionState(base, "restart").enabled).toBe(true);
    expect(actionState(base, "start")).toEqual({ enabled: false, reason: "Already running" });
  });

  it("needs a deploy before start/stop/restart/update", () => {
    const s = { ...base, status: "not_deployed" as const, deployed_revision: null };
    expect(actionState(s, "start").enabled).toBe(false);
    expect(actionState(s, "update").reason).toBe("Deploy the service first");
    expect(actionState(s, "deploy").enabled).toBe(true);
    expect(actionState(s, "pull").enabled).toBe(true);
  });

  it("blocks operations while a job runs, except delete", () => {
    const s = { ...base, active_job: job("running") };
    expect(actionState(s, "restart")).toEqual({ enabled: false, reason: "Wait for the running deploy to finish" });
    expect(actionState(s, "delete").enabled).toBe(true);
    expect(actionState({ ...base, active_job: job("succeeded") }, "restart").enabled).toBe(true);
  });

  it("has nothing to stop on a stopped service", () => {
    expect(actionState({ ...base, status: "stopped" }, "stop").enabled).toBe(false);
    expect(actionState({ ...base, status: "stopped" }, "start").enabled).toBe(true);
  });
});

describe("labels", () => {
  it("names job kinds and progress", () => {
    expect(jobKindLabel("service.deploy")).toBe("Deploy");
    expect(jobKindLabel("image.prune_all")).toBe("Prune all");
    expect(actionProgressive("deploy")).toBe("Deploying");
    expect(actionProgressive("stop")).toBe("Stopping");
    expect(actionProgressive("update")).toBe("Updating");
    expect(actionProgressive("restart")).toBe("Restarting");
  });
});
