import { ConfigError, loadConfig } from '../../src/config';
import { DEFAULT_ROLE_MAP, discoveryUrls, issuersFor, parseRoleMap } from '../../src/auth/bearer-settings';
import { principalOf } from '../../src/auth/bearer-verifier';

const T1 = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const T2 = '6f1a7c52-3d0e-4b8a-9e21-0c4d5b6a7f80';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('ENTRA_* configuration', () => {
  test('unset: Basic only', () => {
    expect(loadConfig({}).bearer).toBeUndefined();
  });

  test("Entra's defaults: one discovery document per tenant, RS256, the default role map", () => {
    const c = loadConfig({
      ENTRA_AUDIENCES: 'api://expense-export, 8d1c0f2e-3b7a-4c55-9a0e-2f6d4b1e7c90',
      ENTRA_TENANT_IDS: `${T1},${T2}`,
    });
    expect(c.bearer).toEqual({
      tenantIds: [T1, T2],
      audiences: ['api://expense-export', '8d1c0f2e-3b7a-4c55-9a0e-2f6d4b1e7c90'],
      allowedClientIds: undefined,
      roleMap: DEFAULT_ROLE_MAP,
      discoveryUrls: [
        `https://login.microsoftonline.com/${T1}/v2.0/.well-known/openid-configuration`,
        `https://login.microsoftonline.com/${T2}/v2.0/.well-known/openid-configuration`,
      ],
      algorithms: ['RS256'],
      clockSkewSec: 60,
      refetchCooldownSec: 60,
    });
    expect(DEFAULT_ROLE_MAP['Exports.Read']).toEqual(['exporter']);
  });

  test('bearer tokens alone satisfy "users are required" against real storage', () => {
    const storage = { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' };
    expect(problems(storage)).toEqual([expect.stringMatching(/^AUTH_USERS: no users configured/)]);
    expect(problems({ ...storage, ENTRA_AUDIENCES: 'api://x', ENTRA_TENANT_IDS: T1 })).toEqual([]);
  });

  test('every problem at once, each naming its variable, none echoing a secret', () => {
    const p = problems({
      ENTRA_TENANT_IDS: 'common',
      ENTRA_ROLE_MAP: '{"Exports.Read":"superuser"}',
      ENTRA_ALGORITHMS: 'RS256,HS256',
      ENTRA_CLOCK_SKEW_S: '900',
      ENTRA_DISCOVERY_URL: 'http://idp.example.com/{tenant}/.well-known/openid-configuration',
    });
    expect(p.map((x) => x.split(':')[0]).sort()).toEqual(['ENTRA_ALGORITHMS', 'ENTRA_CLOCK_SKEW_S', 'ENTRA_DISCOVERY_URL']);
    expect(
      problems({ ENTRA_TENANT_IDS: 'common', ENTRA_ROLE_MAP: '{"Exports.Read":"superuser"}' })
        .map((x) => x.split(':')[0])
        .sort(),
    ).toEqual(['ENTRA_AUDIENCES', 'ENTRA_ROLE_MAP', 'ENTRA_TENANT_IDS']);
    expect(problems({ ENTRA_AUDIENCES: 'api://x' })).toEqual(['ENTRA_TENANT_IDS: required: ENTRA_DISCOVERY_URL names {tenant}']);
  });

  test('any OpenID provider: a discovery URL without {tenant}, http only on loopback', () => {
    const c = loadConfig({ ENTRA_AUDIENCES: 'api://x', ENTRA_DISCOVERY_URL: 'http://127.0.0.1:8080/.well-known/openid-configuration' });
    expect(c.bearer?.discoveryUrls).toEqual(['http://127.0.0.1:8080/.well-known/openid-configuration']);
    expect(c.bearer?.tenantIds).toEqual([]);
  });
});

describe('pure pieces', () => {
  test('issuers: v2 and the tenant’s v1 (sts.windows.net); {tenantid} filled per tenant; others as given', () => {
    expect(issuersFor(`https://login.microsoftonline.com/${T1}/v2.0`, [T1])).toEqual([
      `https://login.microsoftonline.com/${T1}/v2.0`,
      `https://sts.windows.net/${T1}/`,
    ]);
    expect(issuersFor('https://login.microsoftonline.com/{tenantid}/v2.0', [T1, T2])).toHaveLength(4);
    expect(issuersFor('http://127.0.0.1:9000', [T1])).toEqual(['http://127.0.0.1:9000']);
  });

  test('discovery URLs', () => {
    expect(discoveryUrls('https://x/{tenant}/d', [T1])).toEqual([`https://x/${T1}/d`]);
    expect(discoveryUrls('https://x/d', [T1, T2])).toEqual(['https://x/d']);
  });

  test('role map: a role or a list of roles; unknown roles and bad JSON refused', () => {
    expect(parseRoleMap('{"A":"admin","B":["exporter","importer"]}')).toEqual({
      ok: true,
      value: { A: ['admin'], B: ['exporter', 'importer'] },
    });
    expect(parseRoleMap('{"A":"root"}').ok).toBe(false);
    expect(parseRoleMap('nope')).toEqual({ ok: false, problems: ['is not valid JSON'] });
  });

  test('principal: client from azp, appid or client_id, plus oid; roles only through the map; scp grants nothing', () => {
    const map = { 'Exports.Read': ['exporter' as const], Ops: ['admin' as const, 'exporter' as const] };
    expect(principalOf({ azp: 'c1', oid: 'o1', roles: ['Exports.Read', 'Ops', 'Unknown', 7] }, map)).toEqual({
      name: 'app:c1/o1',
      clientId: 'c1',
      roles: ['exporter', 'admin'],
      delegated: false,
    });
    expect(principalOf({ appid: 'c2', roles: 'Exports.Read' }, map)).toMatchObject({ name: 'app:c2', roles: [] });
    expect(principalOf({ client_id: 'c3', scp: 'Exports.Read', oid: 'u1' }, map)).toMatchObject({
      name: 'user:c3/u1',
      roles: [],
      delegated: true,
    });
    expect(principalOf({ oid: 'o' }, map)).toBeUndefined();
  });
});
