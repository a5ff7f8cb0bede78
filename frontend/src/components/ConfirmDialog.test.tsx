import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ConfirmDialog } from "./ConfirmDialog";

describe("ConfirmDialog", () => {
  it("enables confirm only once the required text is typed exactly", () => {
    const onConfirm = vi.fn();
    render(<ConfirmDialog open onOpenChange={() => undefined} title="Delete web?" confirmLabel="Delete" requireText="web" onConfirm={onConfirm} />);
    const submit = screen.getByTestId("confirm-submit");
    expect(submit).toBeDisabled();
    fireEvent.change(screen.getByTestId("confirm-input"), { target: { value: "We" } });
    expect(submit).toBeDisabled();
    fireEvent.submit(submit.closest("form")!);
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.change(screen.getByTestId("confirm-input"), { target: { value: "web" } });
    expect(submit).toBeEnabled();
    fireEvent.submit(submit.closest("form")!); // Enter in the input
    expect(onConfirm).toHaveBeenCalledTimes(1);
  });

  it("confirms directly without required text, and cancels", () => {
    const onConfirm = vi.fn();
    const onOpenChange = vi.fn();
    render(<ConfirmDialog open onOpenChange={onOpenChange} title="Stop web?" description="Containers stop." confirmLabel="Stop" onConfirm={onConfirm} />);
    expect(screen.queryByTestId("confirm-input")).toBeNull();
    expect(screen.getByTestId("confirm-dialog")).toHaveTextContent("Containers stop.");
    fireEvent.click(screen.getByText("Cancel"));
    expect(onOpenChange).toHaveBeenCalledWith(false);
    fireEvent.click(screen.getByTestId("confirm-submit"));
    expect(onConfirm).toHaveBeenCalledTimes(1);
  });
});
