/** What a retryPayout / retryPayouts answer means, in words. */
export type RetryResult = {
  id: string;
  status: string;
  approvalId?: string | null;
  skipped: { code: string; count: number }[];
  attempts: { id: string; status: string; attempt: number }[];
};

export function describeRetry(r: RetryResult): string {
  if (r.status === "AWAITING_APPROVAL") return `Waiting for approval #${r.approvalId ?? "?"}: the attempts are made when an approver approves.`;
  if (r.status === "REJECTED") return "The approver rejected it: nothing is paid again.";
  if (r.status === "EXPIRED") return "Its approval expired: nothing is paid again.";
  const made = r.attempts.length;
  const skipped = r.skipped.reduce((n, s) => n + s.count, 0);
  const parts = [made === 1 ? "1 new attempt" : `${made} new attempts`];
  if (skipped) parts.push(`${skipped} not retried (${r.skipped.map((s) => `${s.code.toLowerCase().replace(/_/g, " ")} ${s.count}`).join(", ")})`);
  return `${parts.join("; ")}.`;
}
