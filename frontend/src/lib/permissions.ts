import { useMe } from "@/api/queries";

/** Whether `permissions` (from `GET /auth/me`) include `permission`. */
export function hasPermission(permissions: readonly string[] | undefined, permission: string): boolean {
  return permissions?.includes(permission) ?? false;
}

/**
 * Whether the signed-in user holds `permission`. The server decides on every request; the
 * UI only hides what would be refused. Unknown (still loading) counts as not allowed.
 */
export function useCan(permission: string): boolean {
  const me = useMe();
  return hasPermission(me.data?.permissions, permission);
}
