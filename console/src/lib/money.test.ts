import { describe, expect, it } from "vitest";
import { formatAmount, formatMoney, parseAmount } from "./money";

describe("formatAmount", () => {
  it("groups thousands and pads to the currency's minor unit", () => {
    expect(formatAmount("1234567.5", "USD")).toBe("1,234,567.50");
    expect(formatAmount("0.05", "EUR")).toBe("0.05");
    expect(formatAmount("999", "GBP")).toBe("999.00");
  });
  it("shows JPY without decimals and BHD with three", () => {
    expect(formatAmount("4557326", "JPY")).toBe("4,557,326");
    expect(formatAmount("12.5", "BHD")).toBe("12.500");
    expect(formatMoney({ amount: "1000.125", currency: "BHD" })).toBe("1,000.125 BHD");
  });
  it("keeps amounts beyond a JavaScript number's precision exact", () => {
    expect(formatAmount("90071992547409934.07", "USD")).toBe("90,071,992,547,409,934.07");
    expect(formatAmount("0.10", "USD")).toBe("0.10");
  });
  it("never drops digits the API sent, and passes non-decimals through", () => {
    expect(formatAmount("1.239", "USD")).toBe("1.239");
    expect(formatAmount("-42.1", "USD")).toBe("-42.10");
    expect(formatAmount("n/a", "USD")).toBe("n/a");
  });
});

describe("parseAmount", () => {
  it("gives the canonical string with the currency's decimals", () => {
    expect(parseAmount("1,000.5", "USD")).toEqual({ ok: true, amount: "1000.50" });
    expect(parseAmount(" 0012.3 ", "EUR")).toEqual({ ok: true, amount: "12.30" });
    expect(parseAmount("1500", "JPY")).toEqual({ ok: true, amount: "1500" });
    expect(parseAmount("2.5", "BHD")).toEqual({ ok: true, amount: "2.500" });
    expect(parseAmount("90071992547409934.07", "USD")).toEqual({ ok: true, amount: "90071992547409934.07" });
  });
  it("refuses more decimals than the currency has", () => {
    expect(parseAmount("1.5", "JPY")).toEqual({ ok: false, error: "JPY has no decimals." });
    expect(parseAmount("1.001", "USD")).toEqual({ ok: false, error: "USD takes at most 2 decimals." });
    expect(parseAmount("1.0001", "BHD")).toEqual({ ok: false, error: "BHD takes at most 3 decimals." });
    expect(parseAmount("1.50", "JPY")).toEqual({ ok: false, error: "JPY has no decimals." });
  });
  it("accepts trailing zeros within the minor unit", () => {
    expect(parseAmount("1.0", "JPY")).toEqual({ ok: true, amount: "1" });
  });
  it("refuses what is not a positive decimal", () => {
    for (const bad of ["", "abc", "-5", "1e3", "1.2.3", "1,00", "0", "0.00", "+3", "Infinity"]) {
      expect(parseAmount(bad, "USD").ok, bad).toBe(false);
    }
  });
});
