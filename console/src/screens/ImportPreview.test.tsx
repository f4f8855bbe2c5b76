import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ImportPreview, previewLines, type PreviewData } from "./ImportPreview";

afterEach(cleanup);

const usd = (amount: string) => ({ amount, currency: "USD" });
const preview = (over: Partial<PreviewData> = {}): PreviewData => ({
  rowsRead: 3, payeesNew: 2, payeesChanged: 0, payeesUnchanged: 0, accountsNew: 2, accountsChanged: 0,
  errorCount: 1, totals: [usd("1250.5")],
  errors: [{ row: 3, column: "amount", code: "INVALID_AMOUNT", message: "USD allows 2 decimal place(s), got '1.001'" }],
  rows: [
    { row: 2, externalId: "X-1", amount: usd("1000.00"), rail: "ACH", skipReason: null },
    { row: 4, externalId: "X-3", amount: usd("250.50"), rail: null, skipReason: "no_bank_account" },
  ],
  rails: [{ key: "ACH", count: 1 }, { key: "NONE", count: 1 }],
  skipReasons: [{ key: "no_bank_account", count: 1 }],
  ...over,
});

describe("the import's dry-run preview", () => {
  it("puts rows and their errors in file order, one line per row", () => {
    const lines = previewLines(preview({ errors: [
      { row: 3, column: "amount", code: "INVALID_AMOUNT", message: "a" },
      { row: 3, column: "iban", code: "INVALID_IBAN", message: "b" },
      { row: 1, column: null, code: "MISSING_COLUMN", message: "c" },
    ] }));
    expect(lines.map((l) => [l.row, l.prediction?.externalId ?? null, l.errors.length])).toEqual([
      [1, null, 1], [2, "X-1", 0], [3, null, 2], [4, "X-3", 0],
    ]);
  });

  it("highlights exactly the rows with errors, with the column and the message", () => {
    const { container } = render(<ImportPreview preview={preview()} />);
    const marked = [...container.querySelectorAll("tr.row-error")].map((tr) => tr.getAttribute("data-row"));
    expect(marked).toEqual(["3"]);
    const bad = container.querySelector('tr[data-row="3"]') as HTMLElement;
    expect(bad.getAttribute("aria-invalid")).toBe("true");
    expect(within(bad).getByText("amount")).toBeTruthy();
    expect(bad.textContent).toContain("USD allows 2 decimal place(s)");
    const good = container.querySelector('tr[data-row="2"]') as HTMLElement;
    expect(good.getAttribute("aria-invalid")).toBeNull();
    expect(good.textContent).toContain("1,000.00");
  });

  it("says nothing can be imported while there are errors, and shows totals from the strings", () => {
    render(<ImportPreview preview={preview()} />);
    expect(screen.getByRole("status").textContent).toMatch(/1 row error: nothing can be imported/);
    expect(screen.getByText("1,250.50")).toBeTruthy();
    expect(screen.getAllByText(/no bank account/)).toHaveLength(2); // the skip chip and the row
  });

  it("says a clean file is clean", () => {
    render(<ImportPreview preview={preview({ errorCount: 0, errors: [] })} />);
    expect(screen.getByRole("status").textContent).toMatch(/clean: 3 rows would be imported/);
  });
});
