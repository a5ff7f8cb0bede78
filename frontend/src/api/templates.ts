/** Service templates: the gallery, import, export and deploy. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type TemplateOut = Schemas["TemplateOut"];
export type TemplateVariable = Schemas["TemplateVariable"];
export type TemplateImportResult = Schemas["TemplateImportResult"];
export type ImportFormat = Schemas["TemplateImportRequest"]["format"];
export type DeployVariables = Schemas["TemplateDeployRequest"]["variables"];
export type TemplateUpdateOffer = Schemas["TemplateUpdateOffer"];

export interface TemplateFilters {
  search: string;
  category: string;
}

export const templateKeys = {
  all: ["templates"] as const,
  list: (f: TemplateFilters) => ["templates", "list", f] as const,
  categories: () => ["templates", "categories"] as const,
  updateOffer: (serviceId: number) => ["templates", "update-offer", serviceId] as const,
};

const tid = (template_id: number) => ({ path: { template_id } });

export const templatesApi = {
  list: (f: TemplateFilters, signal?: AbortSignal) =>
    call(
      api.GET("/api/v1/templates", {
        params: { query: { ...(f.search ? { search: f.search } : {}), ...(f.category ? { category: f.category } : {}) } },
        signal,
      }),
    ),
  categories: (signal?: AbortSignal) => call(api.GET("/api/v1/templates/categories", { signal })),
  importTemplates: (format: ImportFormat, content: string) => call(api.POST("/api/v1/templates/import", { body: { format, content } })),
  updateOffer: (serviceId: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/services/{service_id}/template-update", { params: { path: { service_id: serviceId } }, signal })),
  remove: (id: number) => call(api.DELETE("/api/v1/templates/{template_id}", { params: tid(id) })),
  deploy: (id: number, name: string, nodeId: number | null, variables: DeployVariables) =>
    call(
      api.POST("/api/v1/templates/{template_id}/deploy", {
        params: tid(id),
        body: { name, ...(nodeId !== null ? { node_id: nodeId } : {}), variables },
      }),
    ),
};

export function useTemplates(filters: TemplateFilters) {
  return useQuery({ queryKey: templateKeys.list(filters), queryFn: ({ signal }) => templatesApi.list(filters, signal) });
}

export function useTemplateCategories() {
  return useQuery({ queryKey: templateKeys.categories(), queryFn: ({ signal }) => templatesApi.categories(signal) });
}

/** Whether a newer version of the service's template exists (quiet: no toast on failure). */
export function useTemplateUpdateOffer(serviceId: number) {
  return useQuery({
    queryKey: templateKeys.updateOffer(serviceId),
    queryFn: ({ signal }) => templatesApi.updateOffer(serviceId, signal),
    meta: { toast: false },
    staleTime: 60_000,
  });
}
