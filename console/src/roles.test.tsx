import { cleanup, render, screen, within } from "@testing-library/react";
import { Client, Provider, fetchExchange } from "urql";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { Shell } from "./App";
import type { Role } from "./lib/roles";

// Screens that open ask the API; here it never answers (navigation is what is tested).
const client = new Client({ url: "http://test/graphql", exchanges: [fetchExchange] });
beforeEach(() => vi.stubGlobal("fetch", () => new Promise(() => {})));
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function shell(role: Role, path: string) {
  const { hook } = memoryLocation({ path });
  render(
    <Provider value={client}>
      <Router hook={hook}>
        <Shell role={role} name="someone" payeeId={role === "PAYEE" ? "7" : null} onLogout={() => {}} />
      </Router>
    </Provider>,
  );
  const nav = screen.getByRole("navigation", { name: "Main" });
  return within(nav).getAllByRole("link").map((a) => a.textContent);
}

describe("navigation follows the key's role", () => {
  it("gives an ops key every operator screen, API keys included", () => {
    expect(shell("OPS", "/nowhere")).toEqual([
      "Overview", "Payouts", "Runs", "Events", "Approvals", "Reconciliation", "Payees", "Webhooks", "Job runs", "API keys", "GraphiQL",
    ]);
  });

  it("gives approver and auditor keys the operator screens but not key management", () => {
    for (const role of ["APPROVER", "AUDITOR"] as const) {
      const links = shell(role, "/nowhere");
      expect(links).toContain("Reconciliation");
      expect(links).not.toContain("API keys");
      cleanup();
    }
  });

  it("gives a payee key the merchant screens and no operator navigation", () => {
    expect(shell("PAYEE", "/nowhere")).toEqual(["Balances", "Request payout", "Payout history"]);
  });

  it("shows a payee key nothing at an operator URL", () => {
    for (const path of ["/payouts", "/payouts/1", "/reconciliation", "/keys", "/runs/1", "/events", "/approvals", "/webhooks"]) {
      shell("PAYEE", path);
      expect(screen.getByRole("heading", { name: "Not available" })).toBeTruthy();
      cleanup();
    }
  });

  it("keeps the key screen from an auditor even by URL", () => {
    shell("AUDITOR", "/keys");
    expect(screen.getByRole("heading", { name: "Not available" })).toBeTruthy();
  });

  it("marks the current screen for assistive technology", () => {
    shell("PAYEE", "/request");
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Request payout" }).getAttribute("aria-current")).toBe("page");
    expect(within(nav).getByRole("link", { name: "Balances" }).getAttribute("aria-current")).toBeNull();
  });
});
