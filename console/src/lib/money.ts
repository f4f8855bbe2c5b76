// Amounts are exact decimal strings from the API ("1234.50", "4557326"). They are
// formatted and parsed as strings of digits: a JavaScript number would round
// amounts beyond 2^53 minor units and misprint binary fractions.

// ISO 4217 minor units where they are not 2 (the server uses the same standard).
const MINOR_DIGITS: Record<string, number> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0,
  UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

export function minorDigits(currency: string): number {
  return MINOR_DIGITS[currency.toUpperCase()] ?? 2;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

function group(digits: string): string {
  const out: string[] = [];
  for (let end = digits.length; end > 0; end -= 3) out.unshift(digits.slice(Math.max(0, end - 3), end));
  return out.join(",");
}

/** "1234567.5" USD -> "1,234,567.50"; "4557326" JPY -> "4,557,326"; "12.5" BHD -> "12.500".
 *  Digits beyond the currency's minor unit are kept (never rounded away); a string
 *  that is not a decimal is shown as it came. */
export function formatAmount(amount: string, currency: string): string {
  const match = DECIMAL.exec(amount.trim());
  if (!match) return amount;
  const [, sign, whole, fraction = ""] = match;
  const digits = minorDigits(currency);
  let frac = fraction.replace(/0+$/, "");
  if (frac.length < digits) frac = frac.padEnd(digits, "0");
  const integer = group(whole.replace(/^0+(?=\d)/, ""));
  const negative = sign === "-" && /[1-9]/.test(whole + frac);
  return `${negative ? "-" : ""}${integer}${frac ? `.${frac}` : ""}`;
}

export function formatMoney(money: { amount: string; currency: string }): string {
  return `${formatAmount(money.amount, money.currency)} ${money.currency}`;
}

export type Parsed = { ok: true; amount: string } | { ok: false; error: string };

/** What a person types -> the canonical decimal string the API takes, with exactly the
 *  currency's minor digits ("1,000.5" USD -> "1000.50", "1500" JPY -> "1500").
 *  Refuses signs, exponents, zero, and more decimals than the currency has. */
export function parseAmount(input: string, currency: string): Parsed {
  const text = input.trim().replace(/[\s\u00a0]/g, "");
  if (text === "") return { ok: false, error: "Enter an amount." };
  const grouped = /^\d{1,3}(,\d{3})+(\.\d*)?$/.test(text);
  const plain = text.replace(grouped ? /,/g : /$^/, "");
  const match = /^(\d+)(?:\.(\d*))?$/.exec(plain);
  if (!match) return { ok: false, error: "Use digits and one decimal point, e.g. 1250.00." };
  const digits = minorDigits(currency);
  const whole = match[1].replace(/^0+(?=\d)/, "");
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > digits) {
    const error =
      digits === 0
        ? `${currency} has no decimals.`
        : `${currency} takes at most ${digits} decimal${digits === 1 ? "" : "s"}.`;
    return { ok: false, error };
  }
  if (!/[1-9]/.test(whole + fraction)) return { ok: false, error: "The amount must be more than zero." };
  const padded = fraction.padEnd(digits, "0");
  return { ok: true, amount: digits ? `${whole}.${padded}` : whole };
}
