/**
 * Where a target's files land. Every put is atomic and never overwrites:
 * the bytes become visible under `path` all at once, or not at all, and an
 * existing file there is left alone ('exists').
 */
export interface Sink {
  /**
   * Streams `body` to `path`. `beforeCommit` runs once the whole body is
   * stored out of sight, just before it is made visible under `path`.
   * 'exists': a file was there already (the body may not have been read).
   */
  put(
    path: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    beforeCommit: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<'created' | 'exists'>;
  /** SHA-256 (hex) of the stored file's bytes. */
  sha256Of(path: string, signal: AbortSignal): Promise<string>;
  close(): Promise<void>;
}

/** A delivery that must not be retried as it stands (an operator has to look). */
export class PermanentDeliveryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

/** A failure worth retrying, with a stable code for the ledger and the alert. */
export class DeliveryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}
