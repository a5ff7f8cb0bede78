import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ArrowRight, ArrowUpCircle, Loader2, RefreshCw } from "lucide-react";
import { toast } from "sonner";
import { shortDigest, updateCheckKeys, updateChecksApi, useLastUpdateCheck, type ImageUpdateStatus } from "@/api/registries";
import { serviceKeys } from "@/api/serviceQueries";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Popover, PopoverContent, PopoverTrigger } from "@/components/ui/popover";
import { Tip } from "@/components/ui/tooltip";
import { formatRelative, formatUtc } from "@/lib/format";

/** "Update available" when the last check found a newer registry digest. */
export function UpdateAvailableBadge({ available }: { available: boolean | null | undefined }) {
  if (!available) return null;
  return (
    <Tip content="A newer image was pushed under a tag this service uses. Update the service to run it.">
      <Badge tone="accent" data-testid="update-available">
        <ArrowUpCircle className="size-3" /> Update available
      </Badge>
    </Tip>
  );
}

function DigestChange({ status }: { status: ImageUpdateStatus }) {
  return (
    <li className="space-y-1" data-testid="update-check-image" data-image={status.image}>
      <div className="truncate font-mono text-xs" title={status.image}>
        {status.image}
      </div>
      <div className="flex flex-wrap items-center gap-1.5 text-xs">
        <code title={status.current_digest ?? undefined} data-testid="current-digest">
          {shortDigest(status.current_digest)}
        </code>
        <ArrowRight className="size-3 text-muted-foreground" aria-label="registry has" />
        <code title={status.remote_digest ?? undefined} data-testid="remote-digest">
          {shortDigest(status.remote_digest)}
        </code>
        {status.pinned ? (
          <Badge tone="neutral">pinned</Badge>
        ) : status.update_available ? (
          <Badge tone="accent">newer</Badge>
        ) : status.update_available === false ? (
          <Badge tone="success">up to date</Badge>
        ) : (
          <Badge tone="warning">unknown</Badge>
        )}
      </div>
      {status.error && <p className="text-xs text-muted-foreground">{status.error}</p>}
    </li>
  );
}

/** "Check for updates": HEAD of each image's manifest, never a pull; shows current → remote. */
export function CheckUpdatesButton({ serviceId }: { serviceId: number }) {
  const queryClient = useQueryClient();
  const last = useLastUpdateCheck(serviceId);
  const check = useMutation({
    mutationFn: () => updateChecksApi.check(serviceId),
    onSuccess: (result) => {
      queryClient.setQueryData(updateCheckKeys.service(serviceId), result);
      void queryClient.invalidateQueries({ queryKey: serviceKeys.detail(serviceId) });
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      toast(result.update_available ? "An update is available" : result.update_available === false ? "Images are up to date" : "Some images could not be checked");
    },
  });
  const result = last.data;
  return (
    <Popover>
      <PopoverTrigger asChild>
        <Button variant="outline" size="sm" data-testid="update-check-open">
          <RefreshCw /> Image updates
        </Button>
      </PopoverTrigger>
      <PopoverContent className="w-96 space-y-3 p-4" data-testid="update-check-panel">
        <div className="flex items-center justify-between gap-2">
          <div className="text-sm">
            <p className="font-medium">Image updates</p>
            <p className="text-xs text-muted-foreground" title={formatUtc(result?.checked_at ?? null)}>
              {result?.checked_at ? `checked ${formatRelative(result.checked_at)}` : "never checked"}
            </p>
          </div>
          <Button size="sm" onClick={() => check.mutate()} disabled={check.isPending} data-testid="check-updates">
            {check.isPending ? <Loader2 className="animate-spin" /> : <RefreshCw />} Check for updates
          </Button>
        </div>
        {result && result.images.length > 0 ? (
          <ul className="space-y-3">
            {result.images.map((s) => (
              <DigestChange key={s.image} status={s} />
            ))}
          </ul>
        ) : (
          <p className="text-xs text-muted-foreground">
            Compares each image's digest in its registry with the one on the node. Nothing is pulled.
          </p>
        )}
      </PopoverContent>
    </Popover>
  );
}
