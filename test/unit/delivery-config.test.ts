import { loadConfig, ConfigError } from '../../src/config';
import { deliveryPath, retryDelayMs, sidecarJson, sidecarPath } from '../../src/delivery/naming';
import { EMBEDDED_BLOB_TARGET } from '../../src/delivery/targets';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ AZURITE_IN_MEMORY: 'true', ...env });
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

const sftp = {
  name: 'onprem',
  kind: 'sftp',
  layout: 'v1',
  path: 'in/{date}/{from}-{through}.csv',
  host: '10.0.0.5',
  user: 'drop',
  privateKeyFile: '/k',
};

describe('DELIVERY_TARGETS', () => {
  test('every problem of every target at once, each naming the variable and the place', () => {
    const found = problems({
      DELIVERY_TARGETS: JSON.stringify([
        { ...sftp },
        { name: 'Bad Name', kind: 'blob', layout: 'v1', container: 'x', path: 'a/{date}.csv' },
        { ...sftp, hostKeyFingerprint: 'SHA256:' + 'A'.repeat(43), path: '../{date}/{from}-{through}-{nope}.csv' },
      ]),
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^DELIVERY_TARGETS: 0\.hostKeyFingerprint: hostKeyFingerprint is required/),
        expect.stringMatching(/^DELIVERY_TARGETS: 1\.name: /),
        expect.stringMatching(/^DELIVERY_TARGETS: 1\.container: invalid blob container name/),
        expect.stringMatching(/^DELIVERY_TARGETS: 1\.path: must contain \{date\}, \{from\} and \{through\}/),
        expect.stringMatching(/^DELIVERY_TARGETS: 2\.path: unknown placeholder/),
        expect.stringMatching(/^DELIVERY_TARGETS: 2\.path: must not contain \. or \.\. segments/),
      ]),
    );
  });

  test('not JSON, a file that is not there, both forms at once and a bad webhook are each a problem', () => {
    expect(problems({ DELIVERY_TARGETS: '[' })).toEqual([expect.stringMatching(/^DELIVERY_TARGETS: not JSON/)]);
    expect(problems({ DELIVERY_TARGETS_FILE: '/nonexistent/targets.json' })).toEqual([
      'DELIVERY_TARGETS_FILE: cannot read /nonexistent/targets.json (ENOENT)',
    ]);
    expect(problems({ DELIVERY_TARGETS: '[]', DELIVERY_TARGETS_FILE: __filename })).toEqual(
      expect.arrayContaining(['DELIVERY_TARGETS: set DELIVERY_TARGETS or DELIVERY_TARGETS_FILE, not both']),
    );
    expect(problems({ DELIVERY_TARGETS: '[]', WEBHOOKS: '[{"name":"x","url":"ftp://x","secret":"nope"}]' })).toEqual([
      expect.stringMatching(/^WEBHOOKS: 0\.url: /),
      expect.stringMatching(/^WEBHOOKS: 0\.secret: /),
    ]);
  });

  test('trust on first use only when a target says so; then no fingerprint is needed', () => {
    const c = loadConfig({ AZURITE_IN_MEMORY: 'true', DELIVERY_TARGETS: JSON.stringify([{ ...sftp, trustOnFirstUse: true }]) });
    expect(c.deliveryTargets).toEqual([
      expect.objectContaining({ name: 'onprem', port: 22, trustOnFirstUse: true, encryption: { kind: 'none' } }),
    ]);
  });

  test('the embedded Azurite with no targets delivers to its own container; configured targets replace it', () => {
    expect(loadConfig({ AZURITE_IN_MEMORY: 'true' }).deliveryTargets).toEqual([EMBEDDED_BLOB_TARGET]);
    expect(loadConfig({ AZURITE_IN_MEMORY: 'true', DELIVERY_EMBEDDED_BLOB: 'false' }).deliveryTargets).toEqual([]);
    expect(loadConfig({ AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true', AUTH_USERS: '[]' }).deliveryTargets).toEqual([]);
  });

  test('a blob target on a managed-identity account needs its own account', () => {
    expect(
      problems({
        AZURE_STORAGE_ACCOUNT_NAME: 'contoso',
        AUTH_USERS: '[]',
        DELIVERY_TARGETS: JSON.stringify([
          { name: 'b', kind: 'blob', layout: 'v1', container: 'drop', path: '{date}/{from}-{through}.csv' },
        ]),
      }),
    ).toEqual([expect.stringMatching(/^DELIVERY_TARGETS: target "b": set connectionString or accountUrl/)]);
  });
});

describe('names', () => {
  const f = { target: 't', date: '2026-01-02', layout: 'v1', after: 10, through: 12, redelivery: 0, encrypted: false };
  test('placeholders, redelivery suffix, .pgp, sidecar', () => {
    const p = 'expenses/{date}/{layout}-{date}.{from}-{through}.csv';
    expect(deliveryPath(p, f)).toBe('expenses/2026-01-02/v1-2026-01-02.11-12.csv');
    expect(deliveryPath(p, { ...f, redelivery: 2 })).toBe('expenses/2026-01-02/v1-2026-01-02.11-12-r2.csv');
    expect(deliveryPath(p, { ...f, encrypted: true })).toBe('expenses/2026-01-02/v1-2026-01-02.11-12.csv.pgp');
    expect(deliveryPath('{target}/{date}_{from}_{through}', { ...f, redelivery: 1 })).toBe('t/2026-01-02_11_12-r1');
    expect(sidecarPath('a/b.csv')).toBe('a/b.csv.manifest.json');
  });

  test('the sidecar is the same bytes every time (a resumed attempt writes what the first would have)', () => {
    const fields = {
      date: '2026-01-02',
      layout: 'v1',
      after: 0,
      through: 2,
      rowCount: 2,
      totals: { USD: 150n, JPY: 7n },
      sha256: 'ab',
      bytes: 9,
      etag: '"e"',
      encrypted: false,
      file: 'x/y.csv',
    };
    expect(sidecarJson(fields)).toBe(sidecarJson({ ...fields, totals: { JPY: 7n, USD: 150n } }));
    expect(JSON.parse(sidecarJson(fields))).toEqual({
      date: '2026-01-02',
      layout: 'v1',
      seq: { from: 1, through: 2 },
      rowCount: 2,
      totals: { JPY: '7', USD: '1.50' },
      sha256: 'ab',
      bytes: 9,
      etag: '"e"',
      encryption: 'none',
      file: 'y.csv',
    });
  });

  test('retries back off exponentially, capped at an hour', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(40, 1000)).toBe(3_600_000);
  });
});
