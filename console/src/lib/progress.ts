// A run's progress bar: how many of the event's allocations the run has evaluated.

export type Progress = { total: number | string; evaluated: number | string; submitted?: number | string; failed?: number | string; skipped?: number | string };

function count(value: number | string | undefined | null): number {
  const n = typeof value === "string" ? Number.parseInt(value, 10) : value ?? 0;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** Whole percent done, 0-100, never rounded up to 100 before the end: 199 of 200 is 99. */
export function percentDone(done: number | string, total: number | string): number {
  const d = count(done);
  const t = count(total);
  if (t === 0) return d > 0 ? 100 : 0;
  return Math.min(100, Math.floor((Math.min(d, t) * 100) / t));
}

const ENDED = new Set(["COMPLETED", "CANCELLED", "REJECTED", "EXPIRED"]);

export function hasEnded(state: string): boolean {
  return ENDED.has(state);
}

/** The bar's value for a run: a completed run is full whatever its counts say (an empty
 *  event completes at once); a run that ended otherwise keeps how far it got. */
export function runPercent(state: string, progress: Progress | null | undefined): number {
  if (state === "COMPLETED") return 100;
  if (!progress) return 0;
  return percentDone(progress.evaluated, progress.total);
}
