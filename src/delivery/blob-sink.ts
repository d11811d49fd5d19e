import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobServiceClient, StorageRetryPolicyType, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/core-auth';
import { statusOf } from '../storage/errors';
import type { Sink } from './sink';

/** Blocks of this size are staged as they fill; a few at a time, so memory stays flat whatever the file's size. */
const BLOCK_BYTES = 4 * 1024 * 1024;
const PARALLEL_BLOCKS = 4;

// Our own ledger retries with backoff; the SDK only smooths over a blip.
const pipelineOptions: StoragePipelineOptions = {
  retryOptions: { retryPolicyType: StorageRetryPolicyType.EXPONENTIAL, maxTries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
};

export function blobContainer(
  account: { connectionString: string } | { accountUrl: string; credential: TokenCredential },
  container: string,
): ContainerClient {
  const service =
    'connectionString' in account
      ? BlobServiceClient.fromConnectionString(account.connectionString, pipelineOptions)
      : new BlobServiceClient(account.accountUrl, account.credential, pipelineOptions);
  return service.getContainerClient(container);
}

/**
 * Azure Blob Storage: the body is staged as uncommitted blocks (invisible),
 * and the block list is committed with If-None-Match: * — the blob appears
 * whole, and never replaces one that is there. A crash before the commit
 * leaves only uncommitted blocks, which the service discards. A body of
 * less than one block (a sidecar, a small day) goes as one Put Blob with
 * the same condition, which is as atomic (Azurite 3.35 refuses it with 409
 * as Azure does; delivery-blob.test.ts pins that). There is no
 * existence check first: the condition is the check, and the rare resumed
 * attempt that finds its file there pays one upload for it.
 */
export class BlobSink implements Sink {
  private ensured = false;

  constructor(
    private readonly container: ContainerClient,
    /** The staging block size; smaller only in tests, to take the staged path with small bodies. */
    private readonly blockBytes = BLOCK_BYTES,
  ) {}

  private async ensureContainer(signal: AbortSignal): Promise<void> {
    if (this.ensured) return;
    await this.container.createIfNotExists({ abortSignal: signal });
    this.ensured = true;
  }

  async put(
    path: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    beforeCommit: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<'created' | 'exists'> {
    await this.ensureContainer(signal);
    const blob = this.container.getBlockBlobClient(path);
    const headers = { blobContentType: contentTypeOf(path) };
    // Ids of this attempt only: a crashed attempt's staged blocks are never part of our list.
    const token = randomBytes(6).toString('hex');
    const ids: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failed: Error | undefined;
    // A block's parts go as they came, a stream per try (the SDK may retry), never copied into one buffer.
    const stage = (block: Buffer[], bytes: number) => {
      const id = Buffer.from(`${token}-${String(ids.length).padStart(8, '0')}`).toString('base64');
      ids.push(id);
      const p: Promise<void> = blob
        .stageBlock(id, () => Readable.from(block), bytes, { abortSignal: signal })
        .then(() => undefined)
        .catch((err: unknown) => {
          failed ??= err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    let parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      size += chunk.byteLength;
      if (size >= this.blockBytes) {
        stage(parts, size);
        parts = [];
        size = 0;
        while (inFlight.size >= PARALLEL_BLOCKS) await Promise.race(inFlight);
      }
      if (failed) throw failed;
    }
    const conditions = { ifNoneMatch: '*' };
    try {
      if (ids.length === 0) {
        // One block's worth (a sidecar, a small day): one Put Blob, as atomic as a commit and a round trip shorter.
        await beforeCommit();
        await blob.upload(() => Readable.from(parts), size, { conditions, blobHTTPHeaders: headers, abortSignal: signal });
        return 'created';
      }
      if (size > 0) stage(parts, size);
      // The last blocks and the ledger's note before the commit go together: the note only has to precede the commit.
      await Promise.all([Promise.all(inFlight), beforeCommit()]);
      if (failed) throw failed;
      await blob.commitBlockList(ids, { conditions, blobHTTPHeaders: headers, abortSignal: signal });
      return 'created';
    } catch (err) {
      const status = statusOf(err);
      // 409 BlobAlreadyExists / 412 ConditionNotMet: a blob is there; it is left as it is.
      if (status === 409 || status === 412) return 'exists';
      if (status === 404) this.ensured = false; // the container went away: create it again next time
      throw err;
    }
  }

  async sha256Of(path: string, signal: AbortSignal): Promise<string> {
    const res = await this.container.getBlockBlobClient(path).download(0, undefined, { abortSignal: signal });
    const hash = createHash('sha256');
    for await (const chunk of res.readableStreamBody!) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async close(): Promise<void> {}
}

function contentTypeOf(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (path.endsWith('.pgp')) return 'application/pgp-encrypted';
  return 'text/csv; charset=utf-8';
}
