import * as password from '../../src/auth/password';
import { Authenticator, VERIFIED_CREDENTIAL_TTL_MS, type AuthResult } from '../../src/auth/authenticator';
import { hashPassword, parsePasswordHash, verifyPassword } from '../../src/auth/password';
import { parseUsers, type User } from '../../src/auth/users';
import { cheapHash } from '../support/cheap-hash';

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

const ONPREM = 'onprem-password';
const ALICE = 'alice-password';
let users: User[];
beforeAll(async () => {
  users = [
    { name: 'onprem', roles: ['exporter'], passwordHash: cheapHash(ONPREM) },
    { name: 'alice', roles: ['approver'], passwordHash: cheapHash(ALICE) },
  ];
});
afterEach(() => jest.restoreAllMocks());

// Small budgets: 3 failures per (name, address), 10 per address.
const make = (opts: { cacheMax?: number } = {}) =>
  new Authenticator(users, { maxFailures: 3, maxFailuresPerAddress: 10, failureWindowSec: 60, ...opts });

const isThrottled = (r: AuthResult) => !r.ok && (r.retryAfterSec ?? 0) > 0;

/** Wrong passwords for `name` from `client`, one after another, until the first 429 (or `max` tries). */
async function failUntilThrottled(auth: Authenticator, name: string, client: string, max = 30): Promise<AuthResult> {
  let last: AuthResult = { ok: false };
  for (let i = 0; i < max && !isThrottled(last); i++) last = await auth.verify(name, `guess-${i}`, client);
  return last;
}

describe('Authenticator', () => {
  test('right password passes; wrong password and unknown user fail the same way', async () => {
    const auth = make();
    expect(await auth.verify('onprem', ONPREM, 'c1')).toMatchObject({ ok: true, user: { name: 'onprem' } });
    expect(await auth.verify('onprem', 'wrong', 'c2')).toEqual({ ok: false });
    expect(await auth.verify('ghost', 'wrong', 'c3')).toEqual({ ok: false });
  });

  test('a wrong password is never served from the cache', async () => {
    const auth = make();
    await auth.verify('onprem', ONPREM, 'c4');
    expect((await auth.verify('onprem', `${ONPREM} `, 'c4')).ok).toBe(false);
  });
});

describe('sign-in throttling', () => {
  test('brute force from one address meets 429 with a wait, and no more scrypt work, even for the right password', async () => {
    const auth = make();
    const blocked = await failUntilThrottled(auth, 'onprem', 'attacker');
    expect(isThrottled(blocked)).toBe(true);
    expect(!blocked.ok && blocked.retryAfterSec).toBeLessThanOrEqual(60);
    const spy = jest.spyOn(password, 'verifyPassword');
    expect(isThrottled(await auth.verify('onprem', 'another-guess', 'attacker'))).toBe(true);
    // A lucky guess is not confirmed either: the attacker learns nothing until the window ends.
    expect(isThrottled(await auth.verify('onprem', ONPREM, 'attacker'))).toBe(true);
    expect(spy).not.toHaveBeenCalled();
  });

  test('guessing across many names from one address meets the per-address budget', async () => {
    const auth = make();
    for (let i = 0; i < 10; i++) expect(await auth.verify(`name-${i}`, 'guess', 'sprayer')).toEqual({ ok: false });
    expect(isThrottled(await auth.verify('onprem', 'guess', 'sprayer'))).toBe(true);
    expect(isThrottled(await auth.verify('name-99', 'guess', 'sprayer'))).toBe(true);
  });

  test('NAT: a broken script failing under a non-existent name does not stop its neighbours', async () => {
    const auth = make();
    const t0 = Date.now();
    expect((await auth.verify('onprem', ONPREM, 'nat', t0)).ok).toBe(true);
    expect(isThrottled(await failUntilThrottled(auth, 'ghost', 'nat'))).toBe(true);
    // Previously verified (two hours ago), from the same address: accepted without scrypt.
    const spy = jest.spyOn(password, 'verifyPassword');
    expect(await auth.verify('onprem', ONPREM, 'nat', t0 + 2 * 3_600_000)).toMatchObject({ ok: true, user: { name: 'onprem' } });
    expect(spy).not.toHaveBeenCalled();
    // Never verified, from the same address: its own (name, address) budget is untouched, the address's is not spent.
    expect(await auth.verify('alice', ALICE, 'nat')).toMatchObject({ ok: true, user: { name: 'alice' } });
  });

  test('an address past its budget still lets recently verified credentials through, and only those', async () => {
    const auth = make();
    expect((await auth.verify('onprem', ONPREM, 'nat')).ok).toBe(true);
    for (let i = 0; i < 10; i++) await auth.verify(`name-${i}`, 'guess', 'nat');
    expect(isThrottled(await auth.verify('alice', ALICE, 'nat'))).toBe(true);
    expect((await auth.verify('onprem', ONPREM, 'nat')).ok).toBe(true);
  });

  test('failing on purpose as onprem from one address does not lock onprem out from another', async () => {
    const auth = make();
    const t0 = Date.now();
    expect((await auth.verify('onprem', ONPREM, 'payroll', t0)).ok).toBe(true);
    expect(isThrottled(await failUntilThrottled(auth, 'onprem', 'attacker'))).toBe(true);
    expect(isThrottled(await failUntilThrottled(auth, 'alice', 'attacker'))).toBe(true);
    // Verified before (an hour ago): accepted from its usual address.
    expect((await auth.verify('onprem', ONPREM, 'payroll', t0 + 3_600_000)).ok).toBe(true);
    // Never verified, from an address other than the attacker's: its own budget, scrypt, accepted.
    const spy = jest.spyOn(password, 'verifyPassword');
    expect(await auth.verify('alice', ALICE, 'alice-laptop')).toMatchObject({ ok: true, user: { name: 'alice' } });
    expect(spy).toHaveBeenCalledTimes(1);
  });

  test('a verified credential is trusted for VERIFIED_CREDENTIAL_TTL_MS, then checked again against the limits', async () => {
    const auth = make();
    const t0 = Date.now();
    expect((await auth.verify('onprem', ONPREM, 'office', t0)).ok).toBe(true);
    // Someone at the same address mistypes onprem's password until that (name, address) is blocked.
    expect(isThrottled(await failUntilThrottled(auth, 'onprem', 'office'))).toBe(true);
    expect((await auth.verify('onprem', ONPREM, 'office', t0 + VERIFIED_CREDENTIAL_TTL_MS - 1)).ok).toBe(true);
    expect(isThrottled(await auth.verify('onprem', ONPREM, 'office', t0 + VERIFIED_CREDENTIAL_TTL_MS))).toBe(true);
  });

  test('the cache is bounded: past cacheMax the oldest credential is verified again', async () => {
    const auth = make({ cacheMax: 1 });
    const spy = jest.spyOn(password, 'verifyPassword');
    await auth.verify('onprem', ONPREM, 'c');
    await auth.verify('alice', ALICE, 'c');
    await auth.verify('alice', ALICE, 'c');
    expect(spy).toHaveBeenCalledTimes(2);
    await auth.verify('onprem', ONPREM, 'c');
    expect(spy).toHaveBeenCalledTimes(3);
  });
});
