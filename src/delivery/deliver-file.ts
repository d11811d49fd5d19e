import { createHash } from 'node:crypto';
import type { FileSource } from './file-source';
import type { DeliveryRecord } from './ledger';
import { deliveryPath, sidecarJson, sidecarPath } from './naming';
import { encryptStream, readRecipientKey } from './pgp';
import { DeliveryError, PermanentDeliveryError, type Sink } from './sink';
import type { DeliveryTarget } from './targets';

/**
 * The files of one delivery attempt, once the ledger says it is ours: read
 * the snapshot, hash it, encrypt it if the target says so, put it under
 * its final name atomically, then its sidecar. `write` records in the
 * ledger (and fails when the lease is lost).
 */
export async function deliverFile(
  source: FileSource,
  target: DeliveryTarget,
  sink: Sink,
  r: DeliveryRecord,
  write: (next: DeliveryRecord) => Promise<void>,
  signal: AbortSignal,
): Promise<Pick<DeliveryRecord, 'path' | 'fileEtag' | 'bytes' | 'sha256'>> {
  const file = await source(r.date, { after: r.after, through: r.through }, target.layout, signal);
  if (file.snapshot.after !== r.after || file.snapshot.through !== r.through)
    throw new DeliveryError(
      'range_mismatch',
      `source gave rows ${file.snapshot.after}..${file.snapshot.through}, not ${r.after}..${r.through}`,
    );
  const encrypted = target.encryption.kind === 'pgp';
  const prior = r.committingSha256;
  const path = deliveryPath(target.path, { ...r, layout: target.layout, encrypted });
  const key = target.encryption.kind === 'pgp' ? await readRecipientKey(target.encryption.recipientKeyFile) : undefined;

  const hash = createHash('sha256');
  let bytes = 0;
  let complete = false;
  async function* tapped(): AsyncGenerator<Uint8Array> {
    for await (const chunk of file.body()) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    complete = true;
  }
  let sha256 = '';
  const body = key ? await encryptStream(tapped(), key) : tapped();
  const put = await sink.put(
    path,
    body,
    async () => {
      if (!complete) throw new DeliveryError('incomplete', 'the body ended early');
      sha256 = hash.digest('hex');
      // Only ciphertext needs the note: it differs on every attempt and cannot be read back, so a resumed
      // attempt that finds a file knows it is ours by this hash alone. Plaintext is the same bytes for
      // every writer and is compared with the file itself; a commit after a lost lease is then harmless
      // (the rename and the blob condition never replace a file), and saves a ledger round trip.
      if (!encrypted) return;
      r = { ...r, path, fileEtag: file.etag, committingSha256: sha256 };
      await write(r);
    },
    signal,
  );
  if (put === 'exists') {
    if (!sha256) {
      const h = createHash('sha256');
      bytes = 0;
      for await (const chunk of file.body()) {
        h.update(chunk);
        bytes += chunk.length;
      }
      sha256 = h.digest('hex');
    }
    // Ours: the same bytes (which we can read back unless encrypted), or, encrypted, the file an earlier attempt
    // was about to make visible (the hash it recorded first). Not this attempt's own record: it was just written.
    const ours = encrypted ? prior === sha256 : (await sink.sha256Of(path, signal)) === sha256;
    if (!ours) throw new PermanentDeliveryError('existing_file_differs', `${path} exists with other bytes; it is left as it is`);
  }
  const sidecar = Buffer.from(
    sidecarJson({
      date: r.date,
      layout: target.layout,
      after: r.after,
      through: r.through,
      rowCount: file.rowCount,
      totals: file.totals,
      sha256,
      bytes,
      etag: file.etag,
      encrypted,
      file: path,
    }),
  );
  const sidecarName = sidecarPath(path);
  if ((await sink.put(sidecarName, [sidecar], async () => undefined, signal)) === 'exists') {
    const want = createHash('sha256').update(sidecar).digest('hex');
    if ((await sink.sha256Of(sidecarName, signal)) !== want)
      throw new PermanentDeliveryError('existing_file_differs', `${sidecarName} exists with other bytes; it is left as it is`);
  }
  return { path, fileEtag: file.etag, bytes, sha256 };
}
