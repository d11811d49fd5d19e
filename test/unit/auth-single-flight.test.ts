import * as password from '../../src/auth/password';
import { Authenticator } from '../../src/auth/authenticator';
import { cheapHash } from '../support/cheap-hash';

describe('Authenticator under concurrent requests', () => {
  let hash: string;
  beforeAll(async () => {
    hash = cheapHash('right-password');
  });
  afterEach(() => jest.restoreAllMocks());

  const make = () =>
    new Authenticator([{ name: 'onprem', roles: ['exporter'], passwordHash: hash }], {
      maxFailures: 5,
      maxFailuresPerAddress: 50,
      failureWindowSec: 60,
    });

  test('many requests with the same credentials on a cold cache cost one scrypt', async () => {
    const auth = make();
    const spy = jest.spyOn(password, 'verifyPassword');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => auth.verify('onprem', 'right-password', `c${i}`)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  test('a failure is not shared: each wrong attempt is verified and counted on its own', async () => {
    const auth = make();
    const spy = jest.spyOn(password, 'verifyPassword');
    const results = await Promise.all(Array.from({ length: 3 }, () => auth.verify('onprem', 'wrong', 'attacker')));
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(3);
  });
});
