import { describe, expect, it } from "vitest";
import { defaultsText, formFromOwn, quotaUpdateFromForm, usageRows, type QuotaOut, type QuotaValues } from "./quota";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const none: QuotaValues = {
  max_services: null,
  max_containers: null,
  max_cpus: null,
  max_memory_bytes: null,
  max_gpus: null,
  default_cpus: null,
  default_memory: null,
  default_pids: null,
};

function quota(over: Partial<QuotaOut> = {}): QuotaOut {
  return {
    user_id: 7,
    custom: false,
    max_services: 10,
    max_containers: 20,
    max_cpus: 4,
    max_memory_bytes: 8 * GIB,
    max_gpus: 0,
    default_cpus: 1,
    default_memory: 512 * MIB,
    default_pids: 512,
    usage: { services: 2, containers: 3, cpus: 1.5, memory_bytes: 1536 * MIB, gpus: 0 },
    own: none,
    defaults: none,
    ...over,
  };
}

describe("usageRows", () => {
  it("shows usage against each limit with a percentage", () => {
    const rows = usageRows(quota());
    expect(rows.map((r) => [r.key, r.text, r.percent, r.full])).toEqual([
      ["services", "2 of 10", 20, false],
      ["containers", "3 of 20", 15, false],
      ["cpus", "1.5 of 4", 37.5, false],
      ["memory", "1.5 GiB of 8.0 GiB", 18.75, false],
      ["gpus", "0 of 0", 0, true],
    ]);
  });

  it("says when there is no limit, and caps a passed limit at 100", () => {
    const rows = usageRows(quota({ max_services: null, max_cpus: 1, usage: { services: 4, containers: 0, cpus: 3, memory_bytes: 0, gpus: 1_000_000 } }));
    expect(rows[0]).toMatchObject({ text: "4 (no limit)", percent: null, full: false });
    expect(rows[2]).toMatchObject({ text: "3 of 1", percent: 100, full: true });
    expect(rows[4]).toMatchObject({ text: "all of 0", percent: 100, full: true });
  });
});

describe("quota form", () => {
  it("shows own values in the editor's units and leaves defaults empty", () => {
    const form = formFromOwn({ ...none, max_services: 3, max_memory_bytes: 2 * GIB, default_memory: 256 * MIB, max_cpus: 0.5 });
    expect(form).toMatchObject({ max_services: "3", max_memory_gib: "2", default_memory_mib: "256", max_cpus: "0.5", max_gpus: "", default_pids: "" });
    expect(defaultsText({ ...none, max_services: 10, max_memory_bytes: 8 * GIB })).toMatchObject({ max_services: "default: 10", max_memory_gib: "default: 8", max_gpus: "default: no limit" });
  });

  it("round-trips to the PUT body, empty meaning the default", () => {
    const form = formFromOwn({ ...none, max_services: 3, max_memory_bytes: 1.5 * GIB, default_memory: 256 * MIB });
    const { body, errors } = quotaUpdateFromForm(form);
    expect(errors).toEqual({});
    expect(body).toEqual({ ...none, max_services: 3, max_memory_bytes: 1.5 * GIB, default_memory: 256 * MIB });
  });

  it("names each bad field", () => {
    const form = { ...formFromOwn(none), max_services: "2.5", max_cpus: "-1", default_memory_mib: "1", default_cpus: "0", max_gpus: "lots" };
    const { errors } = quotaUpdateFromForm(form);
    expect(errors).toEqual({
      max_services: "Enter a whole number.",
      max_cpus: "At least 0.",
      default_memory_mib: "At least 4 MiB.",
      default_cpus: "More than 0.",
      max_gpus: "Enter a number, or leave it empty for the default.",
    });
  });
});
