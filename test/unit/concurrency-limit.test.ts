import { ConcurrencyLimit } from '../../src/http/concurrency-limit';

test('caps concurrent exports overall and per user; release is idempotent', () => {
  const limit = new ConcurrencyLimit(3, 2);
  const a1 = limit.acquire('a');
  const a2 = limit.acquire('a');
  expect(a1 && a2).toBeTruthy();
  expect(limit.acquire('a')).toBeUndefined(); // per-user cap
  const b1 = limit.acquire('b');
  expect(b1).toBeDefined();
  expect(limit.acquire('c')).toBeUndefined(); // overall cap
  a1!();
  a1!(); // a second release must not free a second slot
  expect(limit.acquire('c')).toBeDefined();
  expect(limit.acquire('c')).toBeUndefined();
});
