import { describe, expect, it } from "vitest";
import { localTime, utcTitle } from "./dates";

describe("dates", () => {
  it("gives the exact UTC instant for the hover title, whatever the offset sent", () => {
    expect(utcTitle("2026-11-20T09:00:00+00:00")).toBe("2026-11-20 09:00:00 UTC");
    expect(utcTitle("2026-11-20T10:30:05.123+01:00")).toBe("2026-11-20 09:30:05 UTC");
  });
  it("shows the time in the browser's zone and passes what is not a date through", () => {
    expect(localTime("2026-11-20T09:00:00+00:00")).toMatch(/2026/);
    expect(localTime("not a date")).toBe("not a date");
    expect(localTime(null)).toBe("");
  });
});
