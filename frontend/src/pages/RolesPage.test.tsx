import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, render, screen, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { RolesPage } from "./RolesPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const role = (name: string, mfa: boolean) => ({
  name,
  description: "",
  parent: null,
  builtin: true,
  permissions: ["services:read"],
  effective_permissions: ["services:read"],
  tenant: name === "user",
  users: 0,
  mfa_required: mfa,
});

describe("RolesPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("shows which roles require MFA, from the server setting, read-only", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const path = new URL(req.url).pathname;
        if (path === "/api/v1/auth/me") return json({ id: 1, email: "a@example.com", role: "admin", permissions: ["roles:read", "roles:manage"] });
        if (path === "/api/v1/roles") return json({ items: [role("admin", true), role("operator", true), role("viewer", false)] });
        return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
      }),
    );
    const router = createMemoryRouter([{ path: "/roles", element: <RolesPage /> }], { initialEntries: ["/roles"] });
    render(
      <QueryClientProvider client={createQueryClient()}>
        <RouterProvider router={router} />
      </QueryClientProvider>,
    );
    const note = await screen.findByTestId("roles-mfa-note");
    expect(note).toHaveTextContent("Two-factor authentication required for: adminoperator");
    expect(note).toHaveTextContent("DOCKYARD_MFA_REQUIRED_ROLES");
    const cards = screen.getAllByTestId("role-card");
    const flagged = cards.filter((c) => within(c).queryByTestId("role-mfa-required")).map((c) => c.dataset["role"]);
    expect(flagged).toEqual(["admin", "operator"]);
  });
});
