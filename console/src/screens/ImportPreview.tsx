import { Card, Empty, Money } from "../ui";

export type PreviewData = {
  rowsRead: number; payeesNew: number; payeesChanged: number; payeesUnchanged: number;
  accountsNew: number; accountsChanged: number; errorCount: number;
  totals: { amount: string; currency: string }[];
  errors: { row: number; column?: string | null; code: string; message: string }[];
  rows: { row: number; externalId: string; amount: { amount: string; currency: string }; rail?: string | null; skipReason?: string | null }[];
  rails: { key: string; count: number }[];
  skipReasons: { key: string; count: number }[];
};

export type PreviewLine = {
  row: number;
  prediction?: PreviewData["rows"][number];
  errors: PreviewData["errors"];
};

/** One line per row of the file: its prediction and its errors side by side, in file
 *  order. A row with an error has no prediction (it would not be imported). */
export function previewLines(preview: Pick<PreviewData, "rows" | "errors">): PreviewLine[] {
  const lines = new Map<number, PreviewLine>();
  const line = (row: number) => {
    let l = lines.get(row);
    if (!l) lines.set(row, (l = { row, errors: [] }));
    return l;
  };
  for (const p of preview.rows) line(p.row).prediction = p;
  for (const e of preview.errors) line(e.row).errors.push(e);
  return [...lines.values()].sort((a, b) => a.row - b.row);
}

const human = (s: string) => s.toLowerCase().replace(/_/g, " ");

export function ImportPreview({ preview }: { preview: PreviewData }) {
  const lines = previewLines(preview);
  const clean = preview.errorCount === 0;
  return (
    <div className="preview">
      <div className={clean ? "notice good" : "notice bad"} role="status">
        {clean
          ? `The file is clean: ${preview.rowsRead} rows would be imported.`
          : `${preview.errorCount} row error${preview.errorCount === 1 ? "" : "s"}: nothing can be imported until the file is fixed.`}
      </div>
      <div className="stats small">
        <Stat value={preview.rowsRead} label="rows read" />
        <Stat value={preview.payeesNew} label="payees new" />
        <Stat value={preview.payeesChanged} label="payees changed" />
        <Stat value={preview.payeesUnchanged} label="payees unchanged" />
        <Stat value={preview.accountsNew} label="accounts new" />
        <Stat value={preview.accountsChanged} label="accounts changed" />
        <Stat value={preview.errorCount} label="row errors" bad={preview.errorCount > 0} />
      </div>
      <div className="grid">
        <Card title="Totals">
          {preview.totals.length ? <ul className="plain">{preview.totals.map((t) => <li key={t.currency}><Money value={t} /></li>)}</ul> : <Empty>Nothing to pay.</Empty>}
        </Card>
        <Card title="Predicted rails and skips">
          <p className="chips">
            {preview.rails.map((r) => <span key={r.key} className="chip">{r.key} <b>{r.count}</b></span>)}
          </p>
          {preview.skipReasons.length ? (
            <p className="chips">{preview.skipReasons.map((s) => <span key={s.key} className="chip warn">{human(s.key)} <b>{s.count}</b></span>)}</p>
          ) : <p className="muted">No row would be skipped.</p>}
        </Card>
      </div>
      <Card title="Rows" wide>
        {lines.length ? (
          <table className="preview-table">
            <caption className="sr-only">Rows of the file; rows with errors are marked</caption>
            <thead><tr><th className="num">Row</th><th>External id</th><th className="num">Amount</th><th>Rail</th><th>Would skip</th><th>Problem</th></tr></thead>
            <tbody>
              {lines.map((l) => (
                <tr key={l.row} className={l.errors.length ? "row-error" : undefined} data-row={l.row} aria-invalid={l.errors.length ? true : undefined}>
                  <td className="num">{l.row}</td>
                  <td>{l.prediction ? <code>{l.prediction.externalId}</code> : <span className="muted">—</span>}</td>
                  <td className="num">{l.prediction ? <Money value={l.prediction.amount} /> : null}</td>
                  <td>{l.prediction?.rail ?? (l.prediction ? <span className="muted">none</span> : null)}</td>
                  <td>{l.prediction?.skipReason ? human(l.prediction.skipReason) : null}</td>
                  <td>
                    {l.errors.map((e, i) => (
                      <div key={i} className="row-problem">
                        <span className="sr-only">Error: </span>
                        {e.column ? <code>{e.column}</code> : null} {e.message} <span className="muted">({e.code})</span>
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : <Empty>The file has no rows.</Empty>}
        {preview.rowsRead > preview.rows.length + preview.errors.length ? (
          <p className="muted">The first {preview.rows.length} rows are shown of {preview.rowsRead}.</p>
        ) : null}
      </Card>
    </div>
  );
}

function Stat({ value, label, bad }: { value: number; label: string; bad?: boolean }) {
  return <div className={bad ? "stat bad" : "stat"}><span className="stat-value">{value}</span><span className="stat-label">{label}</span></div>;
}
