import pino from 'pino';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { IssuerKeys, KEYS_MAX_AGE_MS, KeysUnavailableError } from '../../src/auth/issuer-keys';

/**
 * The key cache's rules, with fetch behind its narrow interface and a
 * hand-moved clock: when it fetches, and what it does when fetching fails.
 * (test/integration/bearer-keys.test.ts runs the same against a real provider.)
 */

const ISSUER = 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0';
const COOLDOWN = 60_000;

async function key(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey);
  return { jwk, token, header: { alg: 'RS256', kid } };
}

function issuerKeys() {
  let now = 1_000_000;
  let published: JWK[] = [];
  let up = true;
  const calls: string[] = [];
  const fetchFn = (async (url: string | URL) => {
    const u = String(url);
    calls.push(u.endsWith('/keys') ? 'keys' : 'discovery');
    if (!up) throw new TypeError('fetch failed');
    const body = u.endsWith('/keys') ? { keys: published } : { issuer: ISSUER, jwks_uri: 'https://login.example/keys' };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  const k = new IssuerKeys({
    discoveryUrl: 'https://login.example/.well-known/openid-configuration',
    tenantIds: ['72f988bf-86f1-41af-91ab-2d7cd011db47'],
    cooldownMs: COOLDOWN,
    logger: pino({ level: 'silent' }),
    fetch: fetchFn,
    now: () => now,
  });
  return {
    k,
    calls,
    publish: (...jwks: JWK[]) => (published = jwks),
    setUp: (v: boolean) => (up = v),
    advance: (ms: number) => (now += ms),
  };
}

test('discovery names the issuers (v2 and v1) and the keys; loaded once, then from the cache', async () => {
  const a = await key('a');
  const t = issuerKeys();
  t.publish(a.jwk);
  await t.k.getKey(a.header, {} as never);
  await t.k.getKey(a.header, {} as never);
  expect(t.k.issuers).toEqual([ISSUER, 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/']);
  expect(t.calls).toEqual(['discovery', 'keys']);
});

test('an unknown kid re-fetches once at once (a rotation), then at most once per cooldown', async () => {
  const [a, b, c, d] = await Promise.all([key('a'), key('b'), key('c'), key('d')]);
  const t = issuerKeys();
  t.publish(a.jwk);
  expect(await t.k.ensureLoaded()).toBe(true);
  t.publish(a.jwk, b.jwk);
  await expect(t.k.getKey(b.header, {} as never)).resolves.toBeDefined();
  expect(t.calls).toEqual(['discovery', 'keys', 'keys']);

  await expect(t.k.getKey(c.header, {} as never)).rejects.toThrow(/no applicable key/i);
  expect(t.calls).toHaveLength(3); // within the cooldown: no fetch
  t.publish(a.jwk, b.jwk, d.jwk);
  t.advance(COOLDOWN);
  await expect(t.k.getKey(d.header, {} as never)).resolves.toBeDefined();
  expect(t.calls).toHaveLength(4);
});

test('issuer down: cached keys keep working, an unknown kid is KeysUnavailableError, never loaded stays unready', async () => {
  const [a, b] = await Promise.all([key('a'), key('b')]);
  const t = issuerKeys();
  t.publish(a.jwk);
  await t.k.ensureLoaded();
  t.setUp(false);
  t.advance(KEYS_MAX_AGE_MS + 1); // stale: a refresh is tried, fails, and the cached keys stay in use
  await expect(t.k.getKey(a.header, {} as never)).resolves.toBeDefined();
  t.advance(COOLDOWN);
  await expect(t.k.getKey(b.header, {} as never)).rejects.toBeInstanceOf(KeysUnavailableError);
  expect(t.k.everLoaded).toBe(true);

  const fresh = issuerKeys();
  fresh.setUp(false);
  expect(await fresh.k.ensureLoaded()).toBe(false);
  fresh.setUp(true);
  fresh.publish(a.jwk);
  expect(await fresh.k.ensureLoaded()).toBe(false); // a failed load is not retried within the cooldown
  fresh.advance(COOLDOWN);
  expect(await fresh.k.ensureLoaded()).toBe(true);
});

test('a stale cache is refreshed, so a key the issuer withdrew stops working', async () => {
  const [a, b] = await Promise.all([key('a'), key('b')]);
  const t = issuerKeys();
  t.publish(a.jwk);
  await t.k.ensureLoaded();
  t.publish(b.jwk);
  t.advance(KEYS_MAX_AGE_MS + 1);
  await expect(t.k.getKey(a.header, {} as never)).rejects.toThrow(/no applicable key/i);
  await expect(t.k.getKey(b.header, {} as never)).resolves.toBeDefined();
});

test('tokens arriving together during a rotation cause one fetch', async () => {
  const [a, b] = await Promise.all([key('a'), key('b')]);
  const t = issuerKeys();
  t.publish(a.jwk);
  await t.k.ensureLoaded();
  t.publish(a.jwk, b.jwk);
  await Promise.all(Array.from({ length: 10 }, async () => t.k.getKey(b.header, {} as never)));
  expect(t.calls.filter((c) => c === 'keys')).toHaveLength(2);
});
