import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { describeRetry, type RetryResult } from "../lib/retry";
import { RetryButton, type SendRetry } from "./Retry";

afterEach(cleanup);

function button(send: SendRetry) {
  const { hook } = memoryLocation({ path: "/payouts/1" });
  return render(<Router hook={hook}><RetryButton label="Pay again" send={send} /></Router>);
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

const done: RetryResult = { id: "4", status: "DONE", approvalId: null, skipped: [], attempts: [{ id: "12", status: "PENDING", attempt: 2 }] };

describe("describeRetry", () => {
  it("says how many attempts were made and what was skipped, by code", () => {
    expect(describeRetry(done)).toBe("1 new attempt.");
    expect(describeRetry({ ...done, attempts: [], skipped: [{ code: "NOT_RETRYABLE", count: 2 }, { code: "INELIGIBLE", count: 1 }] }))
      .toBe("0 new attempts; 3 not retried (not retryable 2, ineligible 1).");
  });
  it("says which approval it waits for", () => {
    expect(describeRetry({ ...done, status: "AWAITING_APPROVAL", approvalId: "9", attempts: [] })).toMatch(/^Waiting for approval #9/);
  });
});

describe("the Pay again button", () => {
  it("sends once for a double click and links the new attempt", async () => {
    const answer = deferred<Awaited<ReturnType<SendRetry>>>();
    const send = vi.fn<SendRetry>(() => answer.promise);
    button(send);
    const pay = screen.getByRole("button", { name: "Pay again" });
    fireEvent.click(pay);
    fireEvent.click(pay);
    await act(async () => answer.resolve({ retry: done, replayed: false, userErrors: [] }));
    expect(send).toHaveBeenCalledTimes(1);
    expect(screen.getByRole("status").textContent).toContain("1 new attempt");
    expect(screen.getByRole("link", { name: "#12" }).getAttribute("href")).toBe("/payouts/12");
  });

  it("shows the API's error next to the button and sends the same key again", async () => {
    const send = vi.fn<SendRetry>()
      .mockResolvedValueOnce({ userErrors: [{ field: ["input", "payoutId"], code: "NOT_RETRYABLE", message: "An attempt already pays it again." }] })
      .mockResolvedValueOnce({ retry: { ...done, status: "AWAITING_APPROVAL", approvalId: "3", attempts: [] }, userErrors: [] });
    button(send);
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Pay again" })));
    expect(screen.getByRole("alert").textContent).toBe("An attempt already pays it again.");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Pay again" })));
    expect(send.mock.calls[1][0]).toBe(send.mock.calls[0][0]);
    expect(send.mock.calls[0][0]).toMatch(/^console-retry-/);
    expect(screen.getByRole("status").textContent).toMatch(/Waiting for approval #3/);
  });
});
