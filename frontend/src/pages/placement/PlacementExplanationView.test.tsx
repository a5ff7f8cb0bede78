import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { PlacementExplanationView } from "./PlacementExplanationView";

afterEach(cleanup);

describe("PlacementExplanationView", () => {
  it("shows the chosen node with its reasons and every other node", () => {
    render(
      <PlacementExplanationView
        explanation={{
          strategy: "most_room",
          chosen: { node_id: 2, node_name: "node2", score: 0.8, reasons: ["online", "member of cluster edge"] },
          candidates: [
            { node_id: 1, node_name: "local", eligible: false, score: null, reasons: ["not a member of cluster edge"] },
            { node_id: 2, node_name: "node2", eligible: true, score: 0.8, reasons: [] },
            { node_id: 3, node_name: "node3", eligible: true, score: 0.5, reasons: [] },
          ],
        }}
      />,
    );
    expect(screen.getByTestId("placement-chosen").textContent).toContain("Placed on node2");
    expect(screen.getByText("member of cluster edge")).toBeTruthy();
    const others = screen.getAllByTestId("placement-candidate");
    expect(others.map((o) => o.getAttribute("data-eligible"))).toEqual(["false", "true"]);
    expect(within(others[0]!).getByText("not a member of cluster edge")).toBeTruthy();
    expect(others[1]!.textContent).toContain("score 0.500");
  });

  it("says when no node fits", () => {
    render(<PlacementExplanationView explanation={{ chosen: null, candidates: [{ node_id: 1, node_name: "local", eligible: false, reasons: ["needs 4 CPUs, 1 of 2 unreserved"] }] }} />);
    expect(screen.getByTestId("placement-none").textContent).toContain("No node can run this service");
    expect(screen.getByText("needs 4 CPUs, 1 of 2 unreserved")).toBeTruthy();
  });
});
