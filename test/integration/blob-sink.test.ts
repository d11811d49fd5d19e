import { randomBytes } from 'node:crypto';
import { BlobSink } from '../../src/delivery/blob-sink';
import { blobBytes, blobNames, container } from '../support/delivery';

/**
 * The blob sink on its own, on Azurite: both ways a file is made visible
 * (one Put Blob below a block, staged blocks and a commit above) appear
 * whole, only after the ledger's note, and never over a file already there.
 */
describe('BlobSink on Azurite', () => {
  const c = container({ container: `sink-${randomBytes(4).toString('hex')}` });
  const signal = new AbortController().signal;
  const chunks = (n: number, size: number) => Array.from({ length: n }, (_, i) => Buffer.alloc(size, 97 + (i % 26)));
  /** The two ways a file is made visible with a 1 KiB block: [name, chunks, chunk size]. */
  const WAYS: Array<[string, number, number]> = [
    ['one Put Blob (below one block)', 1, 100],
    ['staged blocks and a commit (ten blocks)', 10, 1024],
  ];

  test.each(WAYS)('%s: nothing visible until after beforeCommit, then exactly the bytes', async (_name, n, size) => {
    const sink = new BlobSink(c, 1024);
    const path = `whole/${n}.csv`;
    const body = chunks(n, size);
    let seenBefore: string[] | undefined;
    const put = await sink.put(path, body, async () => void (seenBefore = await blobNames(c)), signal);
    expect(put).toBe('created');
    expect(seenBefore).not.toContain(path);
    expect((await blobBytes(c, path)).equals(Buffer.concat(body))).toBe(true);
  });

  test.each(WAYS)('%s over a file already there: exists, and the file is left as it was', async (_name, n, size) => {
    const sink = new BlobSink(c, 1024);
    const path = `taken/${n}.csv`;
    await sink.put(path, [Buffer.from('first writer')], async () => undefined, signal);
    expect(await sink.put(path, chunks(n, size), async () => undefined, signal)).toBe('exists');
    expect((await blobBytes(c, path)).toString()).toBe('first writer');
  });

  test.each(WAYS)('%s: a beforeCommit that fails (a lost lease) leaves nothing under the name', async (_name, n, size) => {
    const sink = new BlobSink(c, 1024);
    const path = `refused/${n}.csv`;
    const lost = async () => {
      throw new Error('lease lost');
    };
    await expect(sink.put(path, chunks(n, size), lost, signal)).rejects.toThrow('lease lost');
    expect(await blobNames(c)).not.toContain(path);
  });
});
