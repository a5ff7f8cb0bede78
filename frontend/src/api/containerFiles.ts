import { api, call, downloadAuthenticated } from "./client";
import { errorFromResponse } from "./errors";
import type { components } from "./schema";
import { session } from "./session";

export type FileEntry = components["schemas"]["FileEntry"];
export type FileList = components["schemas"]["FileList"];
export type FileContent = components["schemas"]["FileContent"];
export type PathInfo = components["schemas"]["PathInfo"];

const base = (nodeId: number, cid: string) => `/api/v1/nodes/${nodeId}/containers/${encodeURIComponent(cid)}/files`;
const params = (nodeId: number, cid: string) => ({ node_id: nodeId, container_id: cid });

/** Container file browser (Docker archive API; see docs/api.md). */
export const containerFilesApi = {
  list: (nodeId: number, cid: string, path: string) =>
    call(api.GET("/api/v1/nodes/{node_id}/containers/{container_id}/files", { params: { path: params(nodeId, cid), query: { path } } })),
  read: (nodeId: number, cid: string, path: string) =>
    call(api.GET("/api/v1/nodes/{node_id}/containers/{container_id}/files/content", { params: { path: params(nodeId, cid), query: { path } } })),
  write: (nodeId: number, cid: string, path: string, content: string) =>
    call(api.PUT("/api/v1/nodes/{node_id}/containers/{container_id}/files/content", { params: { path: params(nodeId, cid) }, body: { path, content } })),
  mkdir: (nodeId: number, cid: string, path: string, name: string) =>
    call(api.POST("/api/v1/nodes/{node_id}/containers/{container_id}/files/mkdir", { params: { path: params(nodeId, cid) }, body: { path, name } })),
  rename: (nodeId: number, cid: string, path: string, newName: string) =>
    call(api.POST("/api/v1/nodes/{node_id}/containers/{container_id}/files/rename", { params: { path: params(nodeId, cid) }, body: { path, new_name: newName } })),
  remove: (nodeId: number, cid: string, path: string) =>
    call(api.DELETE("/api/v1/nodes/{node_id}/containers/{container_id}/files", { params: { path: params(nodeId, cid), query: { path } } })),
  download: (nodeId: number, cid: string, path: string, fallback: string) =>
    downloadAuthenticated(`${base(nodeId, cid)}/download?path=${encodeURIComponent(path)}`, fallback),
  /** Streams `file` as the raw body (XHR for upload progress); resolves with the new path's info. */
  async upload(nodeId: number, cid: string, dir: string, file: File, onProgress: (fraction: number) => void): Promise<PathInfo> {
    // Any authenticated call refreshes an expiring token first (XHR is used for progress).
    await session.fetch(new Request(new URL("/api/v1/auth/me", window.location.origin)));
    const token = session.getAccessToken();
    const url = `${base(nodeId, cid)}/upload?path=${encodeURIComponent(dir)}&name=${encodeURIComponent(file.name)}`;
    return new Promise<PathInfo>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onerror = () => reject(new Error("The upload failed (network error)."));
      xhr.onload = () => {
        const response = new Response(xhr.responseText, { status: xhr.status, headers: { "Content-Type": "application/json" } });
        if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText) as PathInfo);
        else void errorFromResponse(response).then(reject, reject);
      };
      xhr.send(file);
    });
  },
};

/** `/a/b` -> [["/", "/"], ["a", "/a"], ["b", "/a/b"]]. */
export function breadcrumbs(path: string): [string, string][] {
  const parts = path.split("/").filter(Boolean);
  const out: [string, string][] = [["/", "/"]];
  parts.forEach((p, i) => out.push([p, "/" + parts.slice(0, i + 1).join("/")]));
  return out;
}

export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}
