// The run's chart: payouts counted and their amounts summed per rail and per status.
// Amounts are summed as BigInt minor units per currency (never floats); a bar's length is
// the only number that is approximate, and it is only drawn.
import { fromMinor, toMinor } from "./decimal";

export type ChartPayout = { status: string; railCode?: string | null; amount: { amount: string; currency: string } };
export type Group = { key: string; count: number; totals: { currency: string; minor: bigint; amount: string }[] };

export function groupPayouts(rows: ChartPayout[], by: "rail" | "status"): Group[] {
  const groups = new Map<string, { count: number; totals: Map<string, bigint> }>();
  for (const p of rows) {
    const key = by === "rail" ? p.railCode || "none" : p.status;
    const g = groups.get(key) ?? { count: 0, totals: new Map<string, bigint>() };
    g.count += 1;
    const minor = toMinor(p.amount.amount, p.amount.currency);
    if (minor !== null) g.totals.set(p.amount.currency, (g.totals.get(p.amount.currency) ?? 0n) + minor);
    groups.set(key, g);
  }
  return [...groups.entries()]
    .map(([key, g]) => ({
      key,
      count: g.count,
      totals: [...g.totals.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([currency, minor]) => ({ currency, minor, amount: fromMinor(minor, currency) })),
    }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
}

/** Bar lengths in percent of the largest value (0-100, one decimal), exact up to the
 *  division: BigInt in, so amounts beyond 2^53 minor units still scale right. A value
 *  above zero always gets a visible sliver (at least 0.5%). */
export function scale(values: (bigint | number)[]): number[] {
  const big = values.map((v) => (typeof v === "bigint" ? v : BigInt(Math.max(0, Math.floor(v)))));
  const max = big.reduce((m, v) => (v > m ? v : m), 0n);
  if (max <= 0n) return big.map(() => 0);
  return big.map((v) => {
    if (v <= 0n) return 0;
    const permille = Number((v * 1000n) / max);
    return Math.max(5, permille) / 10;
  });
}
