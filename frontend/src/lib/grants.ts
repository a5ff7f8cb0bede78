/** Scoped role grants: how one reads, and the add form's body. */
import type { components } from "@/api/schema";

type Schemas = components["schemas"];
export type GrantOut = Schemas["GrantOut"];
export type GrantCreate = Schemas["GrantCreate"];
export type ScopeType = GrantCreate["scope_type"];

/** The scopes the add form offers (clusters are not modelled yet). */
export const GRANT_SCOPES: Array<{ value: ScopeType; label: string }> = [
  { value: "global", label: "Everything (global)" },
  { value: "node", label: "A node" },
  { value: "service", label: "A service" },
];

/** "everything", "node local", "service shop-web", "service #12 (deleted)". */
export function grantScopeText(grant: Pick<GrantOut, "scope_type" | "scope_id" | "scope_name">): string {
  if (grant.scope_type === "global") return "everything";
  const name = grant.scope_name ?? `#${grant.scope_id ?? "?"}${grant.scope_type === "cluster" ? "" : " (deleted)"}`;
  return `${grant.scope_type} ${name}`;
}

/** The `POST /users/{id}/grants` body, or why it cannot be sent yet. */
export function grantBody(role: string, scopeType: ScopeType, target: string): { body: GrantCreate } | { error: string } {
  if (!role) return { error: "Choose a role." };
  if (scopeType === "global") return { body: { role, scope_type: "global", scope_id: null } };
  const id = Number(target);
  if (!target || !Number.isInteger(id) || id < 1) return { error: `Choose a ${scopeType}.` };
  return { body: { role, scope_type: scopeType, scope_id: id } };
}
