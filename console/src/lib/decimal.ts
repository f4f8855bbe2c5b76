// Sums of exact decimal amounts, in integer minor units (BigInt): the API's strings are
// never turned into JavaScript numbers, so no total is rounded.
import { minorDigits } from "./money";

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** "1234.5" USD -> 123450n. Digits beyond the currency's minor unit are refused (null),
 *  as is anything that is not a decimal. */
export function toMinor(amount: string, currency: string): bigint | null {
  const match = DECIMAL.exec(amount.trim());
  if (!match) return null;
  const [, sign, whole, fraction = ""] = match;
  const digits = minorDigits(currency);
  const frac = fraction.replace(/0+$/, "");
  if (frac.length > digits) return null;
  const minor = BigInt(whole + frac.padEnd(digits, "0"));
  return sign === "-" ? -minor : minor;
}

/** 123450n USD -> "1234.50"; 1500n JPY -> "1500". */
export function fromMinor(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, "0");
  const whole = digits ? text.slice(0, -digits) : text;
  const frac = digits ? `.${text.slice(-digits)}` : "";
  return `${negative ? "-" : ""}${whole}${frac}`;
}
