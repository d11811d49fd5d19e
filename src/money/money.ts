/**
 * Exact money: amounts are integers of the currency's minor unit (bigint),
 * parsed from and formatted to decimal strings. No binary floating point
 * ever touches a sum.
 */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const digitsCache = new Map<string, number>();

export function isCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && CURRENCIES.has(code);
}

/** ISO 4217 minor digits (USD 2, JPY 0, BHD 3), from the ICU data Node ships. */
export function minorDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    digitsCache.set(currency, d);
  }
  return d;
}

export type ParseAmountResult = { ok: true; minor: bigint } | { ok: false; reason: string };

/** Largest accepted single amount, in major units: well inside Int64 minor units for every currency. */
export const MAX_AMOUNT_MAJOR = 1_000_000_000n;

/**
 * Accepts a decimal string ("12.30") or a JSON number (12.3). A number is read
 * through its shortest round-trip decimal form, so 0.1 means "0.1"; anything
 * beyond the currency's minor digits is refused rather than rounded.
 */
export function parseAmount(input: unknown, currency: string): ParseAmountResult {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, reason: 'must be a finite number' };
    text = String(input);
    if (/e/i.test(text)) return { ok: false, reason: 'is out of range' };
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    return { ok: false, reason: 'must be a decimal string or number' };
  }
  const m = /^(\d{1,15})(?:\.(\d+))?$/.exec(text);
  if (!m) return { ok: false, reason: 'must be a positive decimal like "12.30"' };
  const digits = minorDigits(currency);
  const frac = m[2] ?? '';
  if (frac.length > digits) {
    return {
      ok: false,
      reason: digits === 0 ? `${currency} has no minor unit; use a whole number` : `${currency} allows at most ${digits} decimal places`,
    };
  }
  const minor = BigInt(m[1]) * 10n ** BigInt(digits) + BigInt(frac.padEnd(digits, '0') || '0');
  if (minor <= 0n) return { ok: false, reason: 'must be greater than zero' };
  if (minor > MAX_AMOUNT_MAJOR * 10n ** BigInt(digits)) return { ok: false, reason: `must not exceed ${MAX_AMOUNT_MAJOR}` };
  return { ok: true, minor };
}

/** Always exactly the currency's minor digits: 30n USD → "0.30". */
export function formatMinor(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const neg = minor < 0n;
  const s = (neg ? -minor : minor).toString().padStart(digits + 1, '0');
  const body = digits === 0 ? s : `${s.slice(0, -digits)}.${s.slice(-digits)}`;
  return neg ? `-${body}` : body;
}

export function sumMinor(values: Iterable<bigint>): bigint {
  let total = 0n;
  for (const v of values) total += v;
  return total;
}
