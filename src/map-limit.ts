/**
 * Runs `fn` over `items` with at most `width` calls in flight; results come
 * back in the order of `items`. A rejection rejects the whole call (calls
 * already running still finish), as Promise.all does.
 */
export async function mapLimit<T, R>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
