import { describe, expect, test } from "vitest";
import { percentDone, runPercent } from "./progress";

describe("progress", () => {
  test("whole percent, rounded down so that 100 means done", () => {
    expect(percentDone(0, 60)).toBe(0);
    expect(percentDone(30, 60)).toBe(50);
    expect(percentDone(199, 200)).toBe(99);
    expect(percentDone(200, 200)).toBe(100);
  });
  test("takes counts as strings or numbers, and garbage as zero", () => {
    expect(percentDone("15", "60")).toBe(25);
    expect(percentDone("abc", 10)).toBe(0);
    expect(percentDone(-5, 10)).toBe(0);
  });
  test("never above 100 nor divided by zero", () => {
    expect(percentDone(70, 60)).toBe(100);
    expect(percentDone(0, 0)).toBe(0);
  });
  test("a completed run is full; a cancelled one keeps how far it got", () => {
    expect(runPercent("COMPLETED", { total: 0, evaluated: 0 })).toBe(100);
    expect(runPercent("CANCELLED", { total: 60, evaluated: 12 })).toBe(20);
    expect(runPercent("AWAITING_APPROVAL", null)).toBe(0);
  });
});
