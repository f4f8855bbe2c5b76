import { useRef, useState } from "react";
import { Link } from "wouter";
import { newKey } from "../lib/keys";
import { describeRetry, type RetryResult } from "../lib/retry";
import { FormErrors, PayoutLink, Status, type UserError } from "../ui";

export type SendRetry = (idempotencyKey: string) => Promise<{ retry?: RetryResult | null; replayed?: boolean; userErrors: UserError[]; failed?: string }>;

/** "Pay again" / "Retry failed and returned": one idempotency key per form (made when
 *  it opens, kept after an error), and a second click while the first is in flight is
 *  ignored; the server answers a repeated key with the same retry anyway. */
export function RetryButton({ label, send, onDone }: { label: string; send: SendRetry; onDone?: () => void }) {
  const key = useRef(newKey("retry"));
  const inFlight = useRef(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [done, setDone] = useState<RetryResult>();

  async function go() {
    if (inFlight.current || done) return;
    inFlight.current = true;
    setBusy(true);
    setErrors([]);
    try {
      const result = await send(key.current);
      if (result.failed) setErrors([{ code: "NETWORK", message: `${result.failed} Sending again is safe: the same request cannot pay twice.` }]);
      else if (result.userErrors.length) setErrors(result.userErrors);
      else if (result.retry) {
        setDone(result.retry);
        onDone?.();
      }
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  return (
    <div className="retry">
      <button type="button" className="primary" onClick={go} disabled={busy || !!done}>{label}</button>
      <FormErrors errors={errors} fields={[]} />
      {done ? (
        <div className="confirmation" role="status">
          <p>{describeRetry(done)}{done.approvalId && done.status === "AWAITING_APPROVAL" ? <> <Link href="/approvals">Approvals</Link></> : null}</p>
          {done.attempts.length ? (
            <ul>
              {done.attempts.map((a) => <li key={a.id}>Attempt {a.attempt}: <PayoutLink id={a.id} /> <Status value={a.status} /></li>)}
            </ul>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
