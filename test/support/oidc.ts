import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';
import { registerChild, registryActive } from '../../harness/child-registry';
import type { BearerSettings } from '../../src/auth/bearer-settings';

/**
 * A real OpenID provider (oidc-provider) in a child process, as the service
 * would find Entra ID: by its discovery URL. The test holds the provider's
 * private keys, so it can also sign tokens the provider would never issue
 * (expired, wrong audience, …) with a key the service trusts.
 */

export const TENANT = '6f1a7c52-3d0e-4b8a-9e21-0c4d5b6a7f80';
export const OTHER_TENANT = '0b9e8d7c-6a5f-4e3d-2c1b-a09f8e7d6c5b';
export const AUDIENCE = 'api://expense-export';
export const SECRET = 'test client secret, not a real one';

/** One client per role, as app registrations granted one app role each; `norole-app` was granted none. */
export const CLIENTS = {
  'exporter-app': ['Exports.Read'],
  'importer-app': ['Results.Write'],
  'approver-app': ['Expenses.Approve'],
  'admin-app': ['ExpenseExport.Admin'],
  'norole-app': [],
} as const;
export type ClientId = keyof typeof CLIENTS | 'foreign-tenant-app';

/** The object id the provider puts in `oid` for a client (as Entra names the client's service principal). */
export const oidOf = (client: string) => `00000000-0000-4000-8000-${Buffer.from(client).toString('hex').slice(0, 12).padEnd(12, '0')}`;

export interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  publicJwk: JWK;
  privateJwk: JWK;
}

export async function newSigningKey(alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, privateKey, publicJwk, privateJwk };
}

export interface TestIssuer {
  issuer: string;
  discoveryUrl: string;
  tokenUrl: string;
  key: SigningKey;
  /** A token from the provider's token endpoint by client credentials, as the on-premises client gets one. */
  token(client: ClientId, opts?: { resource?: string }): Promise<string>;
  /** A token the test signs itself: valid claims for `client` unless overridden. */
  sign(claims: JWTPayload, opts?: { key?: SigningKey; alg?: string; client?: ClientId }): Promise<string>;
  /** The provider serves these keys from now on (the first one signs its tokens). */
  rotate(keys: SigningKey[]): Promise<void>;
  setJwksUp(up: boolean): Promise<void>;
  jwksHits(): Promise<number>;
  /** Bearer settings pointing the service at this provider. */
  settings(overrides?: Partial<BearerSettings>): BearerSettings;
  stop(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const key = await newSigningKey();
  const dir = mkdtempSync(join(tmpdir(), 'ee-oidc-'));
  const clients = [
    ...Object.entries(CLIENTS).map(([id, roles]) => ({ client_id: id, client_secret: SECRET, roles, oid: oidOf(id) })),
    { client_id: 'foreign-tenant-app', client_secret: SECRET, roles: ['Exports.Read'], oid: oidOf('foreign'), tid: OTHER_TENANT },
  ];
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ audience: AUDIENCE, tenantId: TENANT, jwks: { keys: [key.privateJwk] }, clients }));
  const child: ChildProcess = spawn(process.execPath, [join(__dirname, 'oidc-provider.mjs'), file], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: registryActive(),
  });
  registerChild(child);
  // Its start-up warnings (in-memory adapter, Node 22 preferred) are noise here; shown only if it fails to start.
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: Record<string, unknown>) => void)[] = [];
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    waiting.push(resolve);
    child.once('exit', (code) => reject(new Error(`oidc-provider exited with ${code} before listening: ${stderr}`)));
  });
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l) as Record<string, unknown>));
  const issuer = (await first).listening as string;
  const send = (m: object) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiting.push(resolve);
      child.stdin!.write(`${JSON.stringify(m)}\n`);
    });

  let signing = key;
  const t: TestIssuer = {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    tokenUrl: `${issuer}/token`,
    key,
    async token(client, opts = {}) {
      const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client, client_secret: SECRET });
      if (opts.resource) body.set('resource', opts.resource);
      const res = await fetch(t.tokenUrl, { method: 'POST', body });
      const json = (await res.json()) as { access_token?: string };
      if (!res.ok || !json.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(json)}`);
      return json.access_token;
    },
    async sign(claims, opts = {}) {
      const k = opts.key ?? signing;
      const client = opts.client ?? 'exporter-app';
      const now = Math.floor(Date.now() / 1000);
      const base: JWTPayload = {
        iss: issuer,
        aud: AUDIENCE,
        iat: now,
        nbf: now,
        exp: now + 600,
        tid: TENANT,
        azp: client,
        oid: oidOf(client),
        roles: [...(CLIENTS as Record<string, readonly string[]>)[client]],
      };
      return new SignJWT({ ...base, ...claims })
        .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: k.kid, typ: 'JWT' })
        .sign(k.privateKey);
    },
    async rotate(keys) {
      signing = keys[0];
      await send({ cmd: 'rotate', jwks: { keys: keys.map((k) => k.privateJwk) } });
    },
    async setJwksUp(up) {
      await send({ cmd: 'jwks', up });
    },
    async jwksHits() {
      return (await send({ cmd: 'stats' })).jwksHits as number;
    },
    settings(overrides = {}) {
      return {
        tenantIds: [TENANT],
        audiences: [AUDIENCE],
        roleMap: {
          'Exports.Read': ['exporter'],
          'Results.Write': ['importer'],
          'Expenses.Approve': ['approver'],
          'ExpenseExport.Admin': ['admin'],
        },
        discoveryUrls: [t.discoveryUrl],
        algorithms: ['RS256'],
        clockSkewSec: 60,
        refetchCooldownSec: 60,
        ...overrides,
      };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}
