import { useMutation, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useState } from "react";
import { toast } from "sonner";

interface Named {
  id: number;
  name: string;
}

/**
 * The state a list page with an add/edit dialog and a confirmed delete needs: which item
 * the dialog edits (null = a new one), which item awaits delete confirmation, and the
 * delete mutation (invalidates `queryKey` and toasts on success).
 */
export function useListEditing<T extends Named>(options: {
  remove: (id: number) => Promise<unknown>;
  queryKey: QueryKey;
  /** Used in the toast when the deleted item's name is unknown, e.g. "the check". */
  noun: string;
  /** The toast's verb: "Deleted" unless given. */
  verb?: string;
}) {
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<T | null>(null);
  const [dialogOpen, setDialogOpen] = useState(false);
  const [deleting, setDeleting] = useState<T | null>(null);
  const remove = useMutation({
    mutationFn: (id: number) => options.remove(id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: options.queryKey });
      toast(`${options.verb ?? "Deleted"} ${deleting?.name ?? options.noun}`);
      setDeleting(null);
    },
  });
  const openDialog = (item: T | null) => {
    setEditing(item);
    setDialogOpen(true);
  };
  return { editing, dialogOpen, setDialogOpen, openDialog, deleting, setDeleting, remove };
}
