import { useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { useLocation } from "wouter";
import { graphql } from "../gql";
import { newKey } from "../lib/keys";
import { Card, Empty, Field, FormErrors, Loading, Money, Page, Problem, Time, fieldError, type UserError } from "../ui";
import { ImportPreview, type PreviewData } from "./ImportPreview";

const EventsQuery = graphql(`
  query Events {
    events { id code name fundName createdAt allocationCount total { amount currency } }
  }
`);

const ImportEvent = graphql(`
  mutation ImportEvent($input: ImportLiquidationEventInput!) {
    importLiquidationEvent(input: $input) {
      preview {
        rowsRead payeesNew payeesChanged payeesUnchanged accountsNew accountsChanged errorCount
        totals { amount currency }
        errors { row column code message }
        rows { row externalId rail skipReason amount { amount currency } }
        rails { key count }
        skipReasons { key count }
      }
      event { id code name }
      userErrors { field code message }
    }
  }
`);

const StartRun = graphql(`
  mutation StartRun($input: StartRunInput!) {
    startRun(input: $input) { run { id state } userErrors { field code message } }
  }
`);

const FIELDS = ["eventId", "name", "currency", "csv", "csvText"];

export function Events({ mayChange }: { mayChange: boolean }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: EventsQuery });
  const [, navigate] = useLocation();
  const [started, startRun] = useMutation(StartRun);
  const [runErrors, setRunErrors] = useState<UserError[]>([]);
  // One key per event for as long as the page is open: a double click starts one run.
  const runKeys = useRef(new Map<string, string>());
  async function start(code: string) {
    let key = runKeys.current.get(code);
    if (!key) runKeys.current.set(code, (key = newKey("run")));
    const outcome = await startRun({ input: { liquidationEventId: code, idempotencyKey: key } });
    const payload = outcome.data?.startRun;
    if (payload?.userErrors.length) setRunErrors(payload.userErrors);
    else if (payload?.run) navigate(`/runs/${payload.run.id}`);
  }
  return (
    <Page title="Liquidation events">
      {mayChange ? <ImportForm onImported={() => refetch({ requestPolicy: "network-only" })} /> : null}
      <Card title="Events" wide>
        <Problem error={error ?? started.error} />
        <FormErrors errors={runErrors} fields={[]} />
        {fetching && !data ? <Loading /> : data?.events.length ? (
          <table>
            <thead><tr><th>Code</th><th>Name</th><th>Fund</th><th className="num">Allocations</th><th className="num">Total</th><th>Created</th>{mayChange ? <th><span className="sr-only">Actions</span></th> : null}</tr></thead>
            <tbody>
              {[...data.events].reverse().map((e) => (
                <tr key={e.id} data-event={e.code}>
                  <td><code>{e.code}</code></td><td>{e.name}</td><td>{e.fundName}</td>
                  <td className="num">{e.allocationCount}</td><td className="num"><Money value={e.total} /></td><td><Time iso={e.createdAt} /></td>
                  {mayChange ? <td><button type="button" onClick={() => start(e.code)} disabled={started.fetching} aria-label={`Start a run of ${e.code}`}>Start run</button></td> : null}
                </tr>
              ))}
            </tbody>
          </table>
        ) : <Empty>No event yet.</Empty>}
      </Card>
    </Page>
  );
}

type Inputs = { eventId: string; name: string; currency: string };

function fingerprint(inputs: Inputs, file: File | null): string {
  return JSON.stringify([inputs.eventId.trim(), inputs.name.trim(), inputs.currency.trim().toUpperCase(), file?.name, file?.size, file?.lastModified]);
}

/** Check first (a dry run: nothing written, the preview shown), then import exactly what
 *  was checked: the Import button is only there for a clean preview of the same inputs
 *  and file, with one idempotency key per check so a double click imports once. */
function ImportForm({ onImported }: { onImported: () => void }) {
  const [inputs, setInputs] = useState<Inputs>({ eventId: "", name: "", currency: "USD" });
  const [file, setFile] = useState<File | null>(null);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [preview, setPreview] = useState<{ data: PreviewData; checked: string; key: string }>();
  const [imported, setImported] = useState<{ id: string; code: string }>();
  const [result, send] = useMutation(ImportEvent);
  const current = fingerprint(inputs, file);
  const ready = preview && preview.checked === current && preview.data.errorCount === 0;

  async function run(dryRun: boolean) {
    setImported(undefined);
    const input = {
      eventId: inputs.eventId.trim(), name: inputs.name.trim(), currency: inputs.currency.trim().toUpperCase(),
      csv: file, dryRun, idempotencyKey: dryRun ? null : preview?.key ?? null,
    };
    const outcome = await send({ input });
    const payload = outcome.data?.importLiquidationEvent;
    if (!payload) return;
    const rowErrors = payload.userErrors.filter((e) => e.code !== "ROW_ERRORS");
    setErrors(rowErrors);
    if (payload.preview) setPreview({ data: payload.preview, checked: current, key: dryRun ? newKey("import") : preview?.key ?? newKey("import") });
    else if (dryRun) setPreview(undefined);
    if (!dryRun && payload.event && !payload.userErrors.length) {
      setImported(payload.event);
      setPreview(undefined);
      setFile(null);
      setInputs({ eventId: "", name: "", currency: inputs.currency });
      onImported();
    }
  }
  function submit(event: FormEvent) {
    event.preventDefault();
    void run(true);
  }
  const err = (f: string) => fieldError(errors, f) ?? (f === "csv" ? fieldError(errors, "csvText") : undefined);
  return (
    <>
      <Card title="Import an event from a CSV" wide>
        <p className="muted">Columns: <code>external_id, name, kind, country, email, amount</code> (or <code>weight</code>), <code>holder_name</code> and the account's fields (<code>iban</code>, <code>bic</code>, <code>account_number</code>, …). Check it first: the dry run writes nothing.</p>
        <form onSubmit={submit} noValidate aria-label="Import an event" className="inline-form">
          <FormErrors errors={errors} fields={FIELDS} />
          <Problem error={result.error} />
          <div className="row">
            <Field id="imp-code" label="Event code" error={err("eventId")} hint="e.g. LIQ-2026-007">
              <input id="imp-code" value={inputs.eventId} aria-invalid={!!err("eventId")} onChange={(e) => setInputs({ ...inputs, eventId: e.target.value })} />
            </Field>
            <Field id="imp-name" label="Name" error={err("name")}>
              <input id="imp-name" value={inputs.name} aria-invalid={!!err("name")} onChange={(e) => setInputs({ ...inputs, name: e.target.value })} />
            </Field>
            <Field id="imp-currency" label="Currency" error={err("currency")}>
              <input id="imp-currency" value={inputs.currency} size={5} aria-invalid={!!err("currency")} onChange={(e) => setInputs({ ...inputs, currency: e.target.value })} />
            </Field>
            <Field id="imp-file" label="CSV file" error={err("csv")}>
              <input id="imp-file" type="file" accept=".csv,text/csv" aria-invalid={!!err("csv")} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
            </Field>
          </div>
          <div className="actions-row">
            <button type="submit" className={ready ? undefined : "primary"} disabled={result.fetching}>{result.fetching && !ready ? "Checking…" : "Check (dry run)"}</button>
            {ready ? (
              <button type="button" className="primary" disabled={result.fetching} onClick={() => run(false)}>Import {preview.data.rowsRead} rows</button>
            ) : null}
            {preview && preview.checked !== current ? <span className="muted">The inputs changed since the check: check again.</span> : null}
          </div>
        </form>
        {imported ? <div className="confirmation" role="status">Imported as event <code>{imported.code}</code> (#{imported.id}). Start its run from the list below.</div> : null}
      </Card>
      {preview ? <ImportPreview preview={preview.data} /> : null}
    </>
  );
}
