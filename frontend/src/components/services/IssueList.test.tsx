import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { parseApiError } from "@/api/errors";
import { IssueList, issueListTitle } from "./IssueList";
import { issuesFromError } from "./useValidation";

const refusal = parseApiError(403, {
  error: {
    code: "policy_violation",
    message: "Not allowed for your account: services.web.privileged: privileged containers are for admins only (and 1 more)",
    details: {
      errors: [
        { path: "services.web.privileged", rule: "privileged", message: "privileged containers are for admins only" },
        { path: "services.web.cap_add", rule: "cap_add", message: "adding capabilities is for admins only" },
      ],
    },
  },
});

describe("policy refusals in the issue list", () => {
  it("keeps each refused path, message and rule", () => {
    expect(issuesFromError(refusal)).toEqual([
      { path: "services.web.privileged", rule: "privileged", message: "privileged containers are for admins only" },
      { path: "services.web.cap_add", rule: "cap_add", message: "adding capabilities is for admins only" },
    ]);
    const plain = parseApiError(422, { error: { code: "validation_failed", message: "x", details: { errors: [{ path: "name", message: "taken" }] } } });
    expect(issuesFromError(plain)).toEqual([{ path: "name", message: "taken" }]);
  });

  it("titles refusals and lists every path with its rule", () => {
    const issues = issuesFromError(refusal) ?? [];
    expect(issueListTitle(issues)).toBe("Not allowed for your account");
    expect(issueListTitle([{ path: "name", message: "taken" }])).toBe("Problems");
    render(<IssueList issues={issues.map((i, n) => ({ ...i, line: n + 4 }))} />);
    const region = screen.getByRole("region", { name: "Not allowed for your account" });
    expect(region).toHaveTextContent("Not allowed for your account (2)");
    const rows = within(region).getAllByTestId("validation-issue");
    expect(rows[0]).toHaveTextContent("L4services.web.privilegedprivileged containers are for admins onlyrule: privileged");
    expect(within(rows[1]!).getByTestId("issue-rule")).toHaveTextContent("rule: cap_add");
  });
});
