import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { parseAmount, formatMinor } from '../src/money/money';
import type { Fleet } from './fleet';

export interface OnPremLedger {
  pulls: number;
  acks: number;
  /** A complete (cleanly ended) file whose rows did not match its Export-Row-Count or Export-Totals: must stay 0. */
  violations: string[];
  /** Per day, the highest seq acknowledged. */
  acknowledged: Map<string, number>;
}

export const newLedger = (): OnPremLedger => ({ pulls: 0, acks: 0, violations: [], acknowledged: new Map() });

/** Export-Totals as `{ usd: "12.30" }` (the service writes plain `key="value"` pairs). */
function headerTotals(value: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (value ?? '').matchAll(/([a-z]+)="([^"]*)"/g)) out[m[1]] = m[2]!;
  return out;
}

/**
 * The on-premises system, as the README tells it to work: pull a day from
 * any live instance, check the file against its headers (a transfer cut
 * mid-way is an error, never a short file), import it, acknowledge
 * `Export-Seq`. Returns whether it got through.
 */
export async function pullAndAcknowledge(fleet: Fleet, auth: string, date: string, ledger: OnPremLedger): Promise<boolean> {
  const instance = fleet.pick();
  if (!instance?.url) return false;
  try {
    const res = await fetch(`${instance.url}/exports/${date}`, { headers: { authorization: auth }, signal: AbortSignal.timeout(30_000) });
    if (res.status !== 200) return false;
    const text = await res.text(); // throws when the transfer was cut
    ledger.pulls++;
    const rows = parse<Record<string, string>>(text, { columns: true });
    const sums = new Map<string, bigint>();
    for (const r of rows) {
      const p = parseAmount(r.amount, r.currency);
      sums.set(r.currency, (sums.get(r.currency) ?? 0n) + (p.ok ? p.minor : 0n));
    }
    const totals = Object.fromEntries([...sums].map(([c, v]) => [c.toLowerCase(), formatMinor(v, c)]));
    const count = Number(res.headers.get('export-row-count'));
    const seq = Number(res.headers.get('export-seq'));
    if (
      rows.length !== count ||
      JSON.stringify(totals, Object.keys(totals).sort()) !==
        JSON.stringify(headerTotals(res.headers.get('export-totals')), Object.keys(totals).sort())
    ) {
      ledger.violations.push(
        `${date}: ${rows.length} rows and ${JSON.stringify(totals)}, headers said ${count} and ${res.headers.get('export-totals')}`,
      );
      return false;
    }
    const ack = await fetch(`${instance.url}/exports/${date}/acknowledgements`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ through: seq }),
      signal: AbortSignal.timeout(15_000),
    });
    if (ack.status !== 200) return false;
    ledger.acks++;
    ledger.acknowledged.set(date, Math.max(seq, ledger.acknowledged.get(date) ?? 0));
    return true;
  } catch {
    return false; // the instance died under us, or the transfer was cut: pull again later
  }
}

/** Pulls and acknowledges every few seconds until `stop` says so. */
export async function onPremLoop(
  fleet: Fleet,
  auth: string,
  dates: () => string[],
  ledger: OnPremLedger,
  running: () => boolean,
): Promise<void> {
  while (running()) {
    await sleep(2000 + Math.random() * 2000);
    for (const date of dates()) await pullAndAcknowledge(fleet, auth, date, ledger);
  }
}
