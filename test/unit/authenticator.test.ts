import { Authenticator } from '../../src/auth/authenticator';
import { hashPassword, parsePasswordHash, verifyPassword } from '../../src/auth/password';
import { parseUsers } from '../../src/auth/users';

describe('passwords', () => {
  test('scrypt hash with per-user salt verifies only the right password', async () => {
    const [a, b] = await Promise.all([hashPassword('s3cret-pass'), hashPassword('s3cret-pass')]);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toBe(b); // different salts
    expect(await verifyPassword('s3cret-pass', parsePasswordHash(a)!)).toBe(true);
    expect(await verifyPassword('s3cret-pasS', parsePasswordHash(a)!)).toBe(false);
  });

  test.each([
    'hunter2',
    'scrypt$16384$8$1$c2FsdA==$aGFzaA==',
    'scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  ])('%p is not a valid hash', (h) => expect(parsePasswordHash(h)).toBeUndefined());

  test('users: roles and names are validated, duplicates refused', () => {
    expect(parseUsers('nope').ok).toBe(false);
    expect(parseUsers(JSON.stringify([{ name: 'x', roles: ['root'], passwordHash: 'x' }])).ok).toBe(false);
  });
});

describe('Authenticator', () => {
  let auth: Authenticator;
  beforeAll(async () => {
    const hash = await hashPassword('right-password');
    auth = new Authenticator([{ name: 'onprem', roles: ['exporter'], passwordHash: hash }], { maxFailures: 3, failureWindowSec: 60 });
  });

  test('right password passes; wrong password and unknown user fail the same way', async () => {
    expect(await auth.verify('onprem', 'right-password', 'c1')).toMatchObject({ ok: true, user: { name: 'onprem' } });
    expect(await auth.verify('onprem', 'wrong', 'c2')).toEqual({ ok: false });
    expect(await auth.verify('ghost', 'wrong', 'c3')).toEqual({ ok: false });
  });

  test('a wrong password is never served from the cache', async () => {
    await auth.verify('onprem', 'right-password', 'c4');
    expect((await auth.verify('onprem', 'right-password ', 'c4')).ok).toBe(false);
  });

  test('failures are limited per client and per user name; cached successes are not slowed', async () => {
    const a = new Authenticator([{ name: 'u', roles: ['admin'], passwordHash: await hashPassword('pw-pw-pw-pw') }], {
      maxFailures: 2,
      failureWindowSec: 60,
    });
    expect((await a.verify('u', 'pw-pw-pw-pw', 'good-client')).ok).toBe(true);
    await a.verify('u', 'x', 'attacker');
    await a.verify('u', 'y', 'attacker');
    const blocked = await a.verify('u', 'z', 'attacker');
    expect(blocked.ok).toBe(false);
    expect(!blocked.ok && blocked.retryAfterSec).toBeGreaterThan(0);
    // the name is now locked for uncached attempts from anywhere...
    const other = await a.verify('u', 'guess', 'elsewhere');
    expect(!other.ok && other.retryAfterSec).toBeGreaterThan(0);
    // ...but the legitimate client, already verified, is not slowed.
    expect((await a.verify('u', 'pw-pw-pw-pw', 'good-client')).ok).toBe(true);
  });
});
