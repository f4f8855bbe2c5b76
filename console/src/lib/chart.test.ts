import { describe, expect, test } from "vitest";
import { groupPayouts, scale } from "./chart";
import { fromMinor, toMinor } from "./decimal";

const p = (status: string, railCode: string | null, amount: string, currency = "USD") => ({ status, railCode, amount: { amount, currency } });

describe("chart", () => {
  test("counts and sums exactly per rail, the most payouts first", () => {
    const groups = groupPayouts([p("COMPLETED", "SEPA", "0.10"), p("FAILED", "SEPA", "0.20"), p("COMPLETED", "ACH", "5.00"), p("SKIPPED", null, "1")], "rail");
    expect(groups.map((g) => [g.key, g.count, g.totals.map((t) => `${t.amount} ${t.currency}`)])).toEqual([
      ["SEPA", 2, ["0.30 USD"]], // not 0.30000000000000004
      ["ACH", 1, ["5.00 USD"]],
      ["none", 1, ["1.00 USD"]],
    ]);
  });
  test("groups by status and keeps currencies apart", () => {
    const groups = groupPayouts([p("COMPLETED", "ZENGIN", "1500", "JPY"), p("COMPLETED", "SEPA", "2.50", "EUR")], "status");
    expect(groups).toHaveLength(1);
    expect(groups[0].totals.map((t) => `${t.amount} ${t.currency}`)).toEqual(["2.50 EUR", "1500 JPY"]);
  });
  test("sums beyond 2^53 minor units stay exact", () => {
    const groups = groupPayouts([p("COMPLETED", "WIRE", "90071992547409.93"), p("COMPLETED", "WIRE", "0.01")], "rail");
    expect(groups[0].totals[0].amount).toBe("90071992547409.94");
  });
  test("bars scale to the largest value, zero stays empty, a tiny value stays visible", () => {
    expect(scale([50n, 100n, 0n])).toEqual([50, 100, 0]);
    expect(scale([1n, 100000n])).toEqual([0.5, 100]);
    expect(scale([0, 0])).toEqual([0, 0]);
    expect(scale([2n ** 70n, 2n ** 69n])).toEqual([100, 50]);
  });
  test("minor units round-trip", () => {
    expect(toMinor("12.5", "BHD")).toBe(12500n);
    expect(toMinor("1.001", "USD")).toBeNull();
    expect(fromMinor(5n, "USD")).toBe("0.05");
    expect(fromMinor(-1234n, "EUR")).toBe("-12.34");
    expect(fromMinor(1500n, "JPY")).toBe("1500");
  });
});
