import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimit } from '../../src/map-limit';

describe('mapLimit', () => {
  test('keeps at most `width` calls in flight and returns results in input order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([30, 10, 20, 0, 5], 2, async (ms, i) => {
      peak = Math.max(peak, ++running);
      await sleep(ms);
      running--;
      return i * 10;
    });
    expect(out).toEqual([0, 10, 20, 30, 40]);
    expect(peak).toBe(2);
  });

  test('a failure rejects the call and no new item starts after it', async () => {
    const started: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4, 5], 2, async (i) => {
      started.push(i);
      await sleep(i === 1 ? 5 : 20);
      if (i === 1) throw new Error('item 1 failed');
      return i;
    });
    await expect(run).rejects.toThrow('item 1 failed');
    await sleep(100); // anything that was going to start has started by now
    // 0 and 1 start at once; 1 fails before 0 is done, so 0's worker must not take 2 afterwards.
    expect(started).toEqual([0, 1]);
  });
});
