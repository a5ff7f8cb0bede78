import { Activity, ArrowLeft, Box, FileCode2, FolderOpen, History, Layers, ListChecks, PackageCheck, ScrollText, Settings2, SquareTerminal } from "lucide-react";
import { useEffect, useState } from "react";
import { Link, useBlocker, useNavigate, useParams } from "react-router";
import { isApiError } from "@/api/errors";
import { useNodes } from "@/api/queries";
import { usePollInterval } from "@/api/realtimeQueries";
import { useService } from "@/api/serviceQueries";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { ServiceMetrics } from "@/components/metrics/ServiceMetrics";
import { AdoptNotice } from "@/components/services/AdoptNotice";
import { ServiceHeaderActions } from "@/components/services/ServiceActions";
import { ActiveJobSpinner, DriftBadge, RelativeTime, ServiceStatusPill } from "@/components/services/ServiceBits";
import { CheckUpdatesButton, UpdateAvailableBadge } from "@/components/services/UpdateCheck";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { usePageTitle } from "@/lib/pageTitle";
import { activeJob } from "@/lib/serviceStatus";
import { DefinitionTab, isDirty, type DefinitionDraft } from "./service/DefinitionTab";
import { FilesTab } from "./service/FilesTab";
import { JobsTab } from "./service/JobsTab";
import { LogsTab } from "./service/LogsTab";
import { OverviewTab } from "./service/OverviewTab";
import { RevisionsTab } from "./service/RevisionsTab";
import { SettingsTab } from "./service/SettingsTab";
import { TerminalTab } from "./service/TerminalTab";
import { UpdatesTab } from "./service/UpdatesTab";

const TABS = [
  { value: "overview", label: "Overview", icon: Box },
  { value: "logs", label: "Logs", icon: ScrollText },
  { value: "metrics", label: "Metrics", icon: Activity },
  { value: "terminal", label: "Terminal", icon: SquareTerminal },
  { value: "files", label: "Files", icon: FolderOpen },
  { value: "definition", label: "Definition", icon: FileCode2 },
  { value: "revisions", label: "Revisions", icon: History },
  { value: "updates", label: "Updates", icon: PackageCheck },
  { value: "jobs", label: "Jobs", icon: ListChecks },
  { value: "settings", label: "Settings", icon: Settings2 },
] as const;
type TabValue = (typeof TABS)[number]["value"];

function isTab(v: string | undefined): v is TabValue {
  return TABS.some((t) => t.value === v);
}

function RevisionText({ revision, deployed }: { revision: number; deployed: number | null }) {
  if (deployed === null) return <span>r{revision} · not deployed</span>;
  if (deployed === revision) return <span>r{revision} (deployed)</span>;
  return (
    <span>
      r{revision} <span className="text-amber-700 dark:text-amber-400">(deployed r{deployed})</span>
    </span>
  );
}

export function ServicePage() {
  const { id: rawId, tab: rawTab } = useParams();
  const id = Number(rawId);
  const valid = Number.isInteger(id) && id > 0;
  const tab: TabValue = isTab(rawTab) ? rawTab : "overview";
  const navigate = useNavigate();
  const poll = usePollInterval();
  const service = useService(id, poll);
  const nodes = useNodes();
  const [draft, setDraft] = useState<DefinitionDraft | null>(null);
  usePageTitle("Services", service.data ? `${service.data.name} · Services` : "Service");

  // A different service: forget the other one's draft.
  useEffect(() => setDraft(null), [id]);

  // Unsaved definition edits: ask before leaving the service.
  const dirty = isDirty(draft);
  const blocker = useBlocker(({ currentLocation, nextLocation }) => dirty && !nextLocation.pathname.startsWith(`/services/${id}`) && currentLocation.pathname !== nextLocation.pathname);
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [dirty]);

  const back = (
    <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
      <Link to="/services">
        <ArrowLeft /> All services
      </Link>
    </Button>
  );

  if (!valid || (service.isError && isApiError(service.error) && service.error.status === 404)) {
    return (
      <div>
        {back}
        <EmptyState icon={Layers} title="Service not found" description="This service does not exist or was deleted." action={<Button asChild variant="outline"><Link to="/services">All services</Link></Button>} />
      </div>
    );
  }
  if (service.isError && !service.data) {
    return (
      <div>
        {back}
        <ErrorState error={service.error} title="Couldn't load this service" onRetry={() => void service.refetch()} />
      </div>
    );
  }
  if (service.isPending) {
    return (
      <div aria-busy="true">
        {back}
        <div className="mb-5 flex items-center gap-3">
          <Skeleton className="h-7 w-48" />
          <Skeleton className="h-5 w-20 rounded-full" />
        </div>
        <Skeleton className="mb-5 h-10 w-full max-w-xl" />
        <Card className="space-y-3 p-5">
          {Array.from({ length: 4 }, (_, i) => (
            <Skeleton key={i} className="h-9 w-full" />
          ))}
        </Card>
      </div>
    );
  }

  const s = service.data;
  const nodeName = nodes.data?.items.find((n) => n.id === s.node_id)?.name ?? `node ${s.node_id}`;
  const job = activeJob(s);

  return (
    <div>
      {back}
      <div className="mb-4 flex flex-wrap items-start justify-between gap-x-6 gap-y-3">
        <div className="min-w-0 space-y-1.5">
          <div className="flex flex-wrap items-center gap-2.5">
            <h2 className="truncate text-xl font-semibold" data-testid="service-name">
              {s.name}
            </h2>
            <ServiceStatusPill status={s.status} />
            {s.drift && <DriftBadge reasons={s.drift_reasons} />}
            <UpdateAvailableBadge available={s.update_available} />
            {job && <ActiveJobSpinner job={job} />}
          </div>
          <p className="flex flex-wrap items-center gap-x-2 gap-y-1 text-sm text-muted-foreground">
            <span>{nodeName}</span>
            <span aria-hidden>·</span>
            <span data-testid="service-revision">
              <RevisionText revision={s.revision} deployed={s.deployed_revision} />
            </span>
            <span aria-hidden>·</span>
            <span>
              updated <RelativeTime iso={s.updated_at} />
            </span>
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <CheckUpdatesButton serviceId={s.id} />
          <ServiceHeaderActions service={s} />
        </div>
      </div>

      <AdoptNotice key={id} />

      <Tabs value={tab} onValueChange={(t) => void navigate(`/services/${id}${t === "overview" ? "" : `/${t}`}`, { replace: true })}>
        <TabsList aria-label="Service sections" className="mb-5">
          {TABS.map((t) => (
            <TabsTrigger key={t.value} value={t.value} data-testid={`tab-${t.value}`}>
              <t.icon /> {t.label}
              {t.value === "definition" && dirty && <span className="size-1.5 rounded-full bg-amber-500" aria-label="unsaved changes" />}
            </TabsTrigger>
          ))}
        </TabsList>
        <TabsContent value="overview">
          <OverviewTab service={s} nodeName={nodeName} />
        </TabsContent>
        <TabsContent value="metrics">
          {tab === "metrics" && <ServiceMetrics serviceId={s.id} />}
        </TabsContent>
        <TabsContent value="logs">
          <LogsTab service={s} />
        </TabsContent>
        <TabsContent value="terminal">
          <TerminalTab service={s} />
        </TabsContent>
        <TabsContent value="files">
          <FilesTab service={s} />
        </TabsContent>
        <TabsContent value="definition">
          <DefinitionTab service={s} draft={draft} setDraft={setDraft} />
        </TabsContent>
        <TabsContent value="revisions">
          <RevisionsTab service={s} />
        </TabsContent>
        <TabsContent value="updates">
          <UpdatesTab service={s} />
        </TabsContent>
        <TabsContent value="jobs">
          <JobsTab service={s} />
        </TabsContent>
        <TabsContent value="settings">
          <SettingsTab service={s} />
        </TabsContent>
      </Tabs>

      <ConfirmDialog
        open={blocker.state === "blocked"}
        onOpenChange={(o) => !o && blocker.state === "blocked" && blocker.reset()}
        title="Leave without saving?"
        description="Your changes to the definition are not saved and will be lost."
        confirmLabel="Leave"
        destructive
        onConfirm={() => {
          if (blocker.state === "blocked") blocker.proceed();
        }}
      />
    </div>
  );
}
