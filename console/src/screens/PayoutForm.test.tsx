import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { PayoutForm, type Submit } from "./Merchant";

beforeEach(() => sessionStorage.clear());
afterEach(cleanup);

type Input = Parameters<Submit>[0];

function form(submit: Submit) {
  const { hook } = memoryLocation({ path: "/request" });
  return render(
    <Router hook={hook}>
      <PayoutForm payeeId="7" bankAccountId="70" currencies={["USD"]} submit={submit} />
    </Router>,
  );
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

const paid = (input: Input) => ({ payout: { id: "99", status: "PENDING", amount: { amount: input.amount, currency: "USD" } }, replayed: false, userErrors: [] });

describe("the payout request form", () => {
  it("sends one request for a double click, with the canonical amount", async () => {
    const answer = deferred<Awaited<ReturnType<Submit>>>();
    const submit = vi.fn<Submit>(() => answer.promise);
    form(submit);
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "1,250.5" } });
    const button = screen.getByRole("button", { name: "Request payout" });
    fireEvent.click(button);
    fireEvent.click(button);
    expect(submit).toHaveBeenCalledTimes(1);
    expect(submit.mock.calls[0][0]).toMatchObject({ amount: "1250.50", currency: "USD", payeeId: "7", bankAccountId: "70" });
    await act(async () => answer.resolve(paid(submit.mock.calls[0][0])));
    expect(screen.getByRole("status").textContent).toContain("1,250.50 USD");
  });

  it("retries with the same idempotency key after a failure, and after a reload", async () => {
    const submit = vi.fn<Submit>(async () => ({ userErrors: [], failed: "The request did not get through." }));
    const first = form(submit);
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "10" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    expect(screen.getByRole("alert").textContent).toContain("Sending again is safe");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    first.unmount(); // a reload: the same tab, a new page
    form(submit);
    expect((screen.getByLabelText("Amount") as HTMLInputElement).value).toBe("10");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    const keys = submit.mock.calls.map(([input]) => input.idempotencyKey);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
  });

  it("makes a new key only for a new request", async () => {
    const submit = vi.fn<Submit>(async (input) => paid(input));
    form(submit);
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "10" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request another payout" })));
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "10" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    const [a, b] = submit.mock.calls.map(([input]) => input.idempotencyKey);
    expect(a).not.toBe(b);
  });

  it("shows an amount error next to the field and sends nothing", async () => {
    const submit = vi.fn<Submit>();
    form(submit);
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "1.005" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    const input = screen.getByLabelText("Amount");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(input.getAttribute("aria-describedby")!)!.textContent).toBe("USD takes at most 2 decimals.");
    expect(submit).not.toHaveBeenCalled();
  });

  it("puts the server's field errors next to their field", async () => {
    const submit = vi.fn<Submit>(async () => ({ userErrors: [{ field: ["input", "amount"], code: "INSUFFICIENT_FUNDS", message: "more than the available 5.00 USD" }] }));
    form(submit);
    fireEvent.change(screen.getByLabelText("Amount"), { target: { value: "10" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Request payout" })));
    const input = screen.getByLabelText("Amount");
    expect(document.getElementById(input.getAttribute("aria-describedby")!)!.textContent).toBe("more than the available 5.00 USD");
  });
});
