/** A fresh idempotency key. A form makes one when it opens and sends it with every
 *  submit, so a double click or a retry after an error never does the thing twice. */
export function newKey(prefix?: string): string {
  return `console-${prefix ? `${prefix}-` : ""}${crypto.randomUUID()}`;
}
