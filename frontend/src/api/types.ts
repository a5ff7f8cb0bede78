/**
 * Named types for the rest of the app. Everything derives from the generated
 * `schema.d.ts` (`npm run gen-types`), by schema name or by path, so replacing
 * openapi.json with the server's real one keeps this file the only place to adjust.
 */
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

export type TokenPair = Schemas["TokenPair"];
export type CurrentUser = Schemas["CurrentUser"];
export type SystemInfo = Schemas["SystemInfo"];
export type Node = Schemas["NodeOut"];
export type NodeList = Schemas["NodeList"];
export type EngineFacts = Schemas["EngineFacts"];
export type AuditEvent = Schemas["AuditEventOut"];
export type AuditPage = Schemas["AuditPage"];

export type LoginBody = paths["/api/v1/auth/login"]["post"]["requestBody"] extends infer B
  ? B extends { content: { "application/json": infer J } }
    ? J
    : never
  : never;
export type AuditQuery = NonNullable<paths["/api/v1/audit"]["get"]["parameters"]["query"]>;
export type AuditOutcome = AuditEvent["outcome"];
