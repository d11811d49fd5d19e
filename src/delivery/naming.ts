import { totalsJson, type Totals } from '../export/manifest';

/**
 * Names and sidecars of delivered files. Pure, so a retry computes the same
 * name and the same sidecar bytes as the attempt it resumes.
 */

export interface FileIdentity {
  target: string;
  date: string;
  layout: string;
  /** Rows (after, through]. */
  after: number;
  through: number;
  /** 0: the delivery; n > 0: the n-th redelivery of the same rows (a new name, never an overwrite). */
  redelivery: number;
  encrypted: boolean;
}

/** The path pattern with its placeholders filled; a redelivery gets `-r<n>` before the extension; encrypted files end `.pgp`. */
export function deliveryPath(pattern: string, f: FileIdentity): string {
  const values: Record<string, string> = {
    date: f.date,
    layout: f.layout,
    from: String(f.after + 1),
    through: String(f.through),
    target: f.target,
  };
  let path = pattern.replace(/\{(date|layout|from|through|target)\}/g, (_m, k: string) => values[k]);
  if (f.redelivery > 0) path = withSuffix(path, `-r${f.redelivery}`);
  return f.encrypted ? `${path}.pgp` : path;
}

function withSuffix(path: string, suffix: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? `${path.slice(0, dot)}${suffix}${path.slice(dot)}` : `${path}${suffix}`;
}

/** The sidecar manifest's name: next to the file, written after it. */
export const sidecarPath = (path: string): string => `${path}.manifest.json`;

export interface SidecarFields {
  date: string;
  layout: string;
  after: number;
  through: number;
  rowCount: number;
  totals: Totals;
  /** Of the plaintext (also when the file is PGP-encrypted). */
  sha256: string;
  bytes: number;
  etag: string;
  encrypted: boolean;
  file: string;
}

/** The sidecar's bytes: no timestamps, so a resumed attempt writes exactly the same ones. */
export function sidecarJson(s: SidecarFields): string {
  return `${JSON.stringify(
    {
      date: s.date,
      layout: s.layout,
      seq: { from: s.after + 1, through: s.through },
      rowCount: s.rowCount,
      totals: totalsJson(s.totals),
      sha256: s.sha256,
      bytes: s.bytes,
      etag: s.etag,
      encryption: s.encrypted ? 'pgp' : 'none',
      file: s.file.slice(s.file.lastIndexOf('/') + 1),
    },
    null,
    2,
  )}\n`;
}

/** Retry delay after the n-th failure (n ≥ 1): base · 2^(n-1), at most an hour. */
export const retryDelayMs = (failures: number, baseMs: number): number => Math.min(3_600_000, baseMs * 2 ** Math.min(20, failures - 1));
