import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { groupPayouts } from "../lib/chart";
import { BarChart, ProgressBar } from "./RunPage";

afterEach(cleanup);

const p = (status: string, railCode: string, amount: string) => ({ status, railCode, amount: { amount, currency: "USD" } });

describe("the run's chart and progress bar", () => {
  it("is a table a screen reader reads: every count and amount is text, the bars are hidden", () => {
    const { container } = render(<BarChart title="By rail" groups={groupPayouts([p("COMPLETED", "SEPA", "100.00"), p("COMPLETED", "SEPA", "50.00"), p("FAILED", "ACH", "1000000.00")], "rail")} />);
    const table = screen.getByRole("table", { name: "By rail" });
    const rows = within(table).getAllByRole("row").slice(1).map((r) => r.textContent);
    expect(rows).toEqual(["SEPA2150.00", "ACH11,000,000.00"]);
    const bars = [...container.querySelectorAll<HTMLElement>(".bar")];
    expect(bars.map((b) => b.style.width)).toEqual(["100%", "0.5%", "50%", "100%"]); // counts 2:1, amounts 150 : 1,000,000
    expect(container.querySelectorAll('.bar-track[aria-hidden="true"]')).toHaveLength(4);
  });

  it("shows the status in words and the amount column's currency", () => {
    render(<BarChart title="By status" groups={groupPayouts([p("AWAITING_SOMETHING", "SEPA", "1.00")], "status")} />);
    expect(screen.getByRole("rowheader").textContent).toBe("awaiting something");
    expect(screen.getByRole("columnheader", { name: "Amount (USD)" })).toBeTruthy();
  });

  it("gives the progress bar its value and state for assistive technology", () => {
    render(<ProgressBar state="RUNNING" progress={{ total: 60, evaluated: 45, submitted: 40, failed: 1, skipped: 4 }} live />);
    const bar = screen.getByRole("progressbar");
    expect(bar.getAttribute("aria-valuenow")).toBe("75");
    expect(bar.getAttribute("aria-valuetext")).toBe("75%, running");
    expect(screen.getByText("45 of 60 evaluated · 40 sent · 1 failed · 4 skipped")).toBeTruthy();
  });
});
