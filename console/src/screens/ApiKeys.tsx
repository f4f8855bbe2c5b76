import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { ApiKeyRole } from "../gql/graphql";
import { Card, Empty, Field, FormErrors, Loading, Page, Problem, Status, Time, fieldError, type UserError } from "../ui";

const ApiKeysQuery = graphql(`
  query ApiKeys {
    apiKeys(first: 100) { edges { node { id prefix name role owner payeeId createdAt lastUsedAt revokedAt } } }
  }
`);

const CreateApiKey = graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) { secret apiKey { id prefix } userErrors { field code message } }
  }
`);

export function ApiKeys() {
  const [{ data, error, fetching }, refetch] = useQuery({ query: ApiKeysQuery });
  const [result, create] = useMutation(CreateApiKey);
  const [form, setForm] = useState({ name: "", owner: "", role: "AUDITOR" as ApiKeyRole, payeeId: "" });
  const [errors, setErrors] = useState<UserError[]>([]);
  const [secret, setSecret] = useState<string>();
  async function submit(event: FormEvent) {
    event.preventDefault();
    setSecret(undefined);
    const outcome = await create({ input: { name: form.name, owner: form.owner, role: form.role, payeeId: form.payeeId.trim() || null } });
    const payload = outcome.data?.createApiKey;
    if (payload?.userErrors.length) setErrors(payload.userErrors);
    else if (payload?.secret) {
      setErrors([]);
      setSecret(payload.secret);
      setForm({ name: "", owner: "", role: "AUDITOR", payeeId: "" });
      refetch({ requestPolicy: "network-only" });
    }
  }
  const err = (f: string) => fieldError(errors, f);
  return (
    <Page title="API keys">
      <div className="grid">
        <Card title="New key">
          {secret ? (
            <div className="secret" role="status">
              <p><strong>Copy this key now: it is shown once, never again.</strong></p>
              <code>{secret}</code>
            </div>
          ) : null}
          <form onSubmit={submit} noValidate aria-label="Create API key">
            <FormErrors errors={errors} fields={["name", "owner", "role", "payeeId"]} />
            <Problem error={result.error} />
            <Field id="key-name" label="What it is for" error={err("name")}>
              <input id="key-name" value={form.name} aria-invalid={!!err("name")} onChange={(e) => setForm({ ...form, name: e.target.value })} />
            </Field>
            <Field id="key-owner" label="Held by (e-mail or system)" error={err("owner")}>
              <input id="key-owner" value={form.owner} aria-invalid={!!err("owner")} onChange={(e) => setForm({ ...form, owner: e.target.value })} />
            </Field>
            <Field id="key-role" label="Role" error={err("role")}>
              <select id="key-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as ApiKeyRole })}>
                {(["OPS", "APPROVER", "AUDITOR", "PAYEE"] as const).map((r) => <option key={r} value={r}>{r.toLowerCase()}</option>)}
              </select>
            </Field>
            {form.role === "PAYEE" ? (
              <Field id="key-payee" label="Payee id" error={err("payeeId")}>
                <input id="key-payee" value={form.payeeId} aria-invalid={!!err("payeeId")} onChange={(e) => setForm({ ...form, payeeId: e.target.value })} />
              </Field>
            ) : null}
            <button type="submit" className="primary" disabled={result.fetching}>Create key</button>
          </form>
        </Card>
        <Card title="Keys" wide>
          <Problem error={error} />
          {fetching && !data ? <Loading /> : data?.apiKeys.edges.length ? (
            <table>
              <thead><tr><th>Prefix</th><th>Name</th><th>Role</th><th>Owner</th><th>Payee</th><th>Created</th><th>Last used</th><th>Revoked</th></tr></thead>
              <tbody>
                {data.apiKeys.edges.map(({ node: k }) => (
                  <tr key={k.id}>
                    <td><code>{k.prefix}</code></td><td>{k.name}</td><td><Status value={k.role} /></td><td>{k.owner}</td><td>{k.payeeId ?? "—"}</td>
                    <td><Time iso={k.createdAt} /></td><td><Time iso={k.lastUsedAt} /></td><td><Time iso={k.revokedAt} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : <Empty>No key.</Empty>}
        </Card>
      </div>
    </Page>
  );
}
