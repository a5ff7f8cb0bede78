/**
 * Client-side job state: which job's detail sheet is open, and which jobs this tab
 * started and wants a "finished" toast for. (The jobs themselves come from the API, so
 * a reload loses nothing but these toasts.)
 */
import { useSyncExternalStore } from "react";

export interface WatchedJob {
  id: string;
  /** "Deploy", "Stop", ... */
  verb: string;
  serviceName: string;
  serviceId: number | null;
}

type Listener = () => void;

class JobStore {
  private openId: string | null = null;
  private watched: readonly WatchedJob[] = [];
  private readonly listeners = new Set<Listener>();

  subscribe = (l: Listener) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  private emit() {
    for (const l of this.listeners) l();
  }

  getOpenJob = () => this.openId;
  getWatched = () => this.watched;

  open(id: string | null) {
    if (this.openId === id) return;
    this.openId = id;
    this.emit();
  }

  watch(job: WatchedJob) {
    if (this.watched.some((w) => w.id === job.id)) return;
    this.watched = [...this.watched, job];
    this.emit();
  }

  unwatch(id: string) {
    const next = this.watched.filter((w) => w.id !== id);
    if (next.length === this.watched.length) return;
    this.watched = next;
    this.emit();
  }
}

export const jobStore = new JobStore();

export function openJob(id: string | null): void {
  jobStore.open(id);
}

export function useOpenJobId(): string | null {
  return useSyncExternalStore(jobStore.subscribe, jobStore.getOpenJob, jobStore.getOpenJob);
}

export function useWatchedJobs(): readonly WatchedJob[] {
  return useSyncExternalStore(jobStore.subscribe, jobStore.getWatched, jobStore.getWatched);
}
