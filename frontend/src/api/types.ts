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

// --- Services and jobs ------------------------------------------------------
export type ServiceOut = Schemas["ServiceOut"];
export type ServiceDetail = Schemas["ServiceDetail"];
export type ServiceList = Schemas["ServiceList"];
export type ServiceCreate = Schemas["ServiceCreate"];
export type ServiceUpdate = Schemas["ServiceUpdate"];
export type ContainerOut = Schemas["ContainerOut"];
export type PortOut = Schemas["PortOut"];
export type RevisionOut = Schemas["RevisionOut"];
export type RevisionDetail = Schemas["RevisionDetail"];
export type RevisionList = Schemas["RevisionList"];
export type RevisionDiff = Schemas["RevisionDiff"];
export type RestoreRequest = Schemas["RestoreRequest"];
export type ValidateRequest = Schemas["ValidateRequest"];
export type ValidateResult = Schemas["ValidateResult"];
export type DefinitionIssue = Schemas["DefinitionIssue"];
export type ActionRequest = Schemas["ActionRequest"];
export type LogsOut = Schemas["LogsOut"];
export type LogLine = Schemas["LogLine"];
export type JobOut = Schemas["JobOut"];
export type JobDetail = Schemas["JobDetail"];
export type JobLineOut = Schemas["JobLineOut"];
export type JobList = Schemas["JobList"];
export type JobAccepted = Schemas["JobAccepted"];
export type TicketOut = Schemas["TicketOut"];

// --- Adoption (what runs on a node without Dockyard) -------------------------
export type AdoptRequest = Schemas["AdoptRequest"];
export type AdoptResult = Schemas["AdoptResult"];
export type UnmanagedOut = Schemas["UnmanagedOut"];
export type UnmanagedProject = Schemas["UnmanagedProject"];
export type UnmanagedProjectContainer = Schemas["UnmanagedProjectContainer"];
export type UnmanagedContainer = Schemas["UnmanagedContainer"];

export type ServiceStatus = ServiceOut["status"];
export type JobStatus = JobOut["status"];
export type RevisionSource = ServiceCreate["source"];
export type ServiceAction = paths["/api/v1/services/{service_id}/{action}"]["post"]["parameters"]["path"]["action"];
