import { ConfigError, loadConfig } from '../../src/config';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('config', () => {
  test('defaults: embedded Azurite with no users is allowed (a demo user is made at start)', () => {
    const c = loadConfig({});
    expect(c.storage).toEqual({ kind: 'embedded', location: '.azurite', inMemory: false });
    expect(c).toMatchObject({
      PORT: 3000,
      EXPORT_TIMEZONE: 'UTC',
      APPROVALS_QUEUE: 'expense-approvals',
      poisonQueue: 'expense-approvals-poison',
      CONSUMER_MAX_IDLE_MS: 1000,
    });
  });

  test('reports every problem at once, each naming its variable', () => {
    const p = problems({
      PORT: 'eighty',
      CONSUMER_CONCURRENCY: '0',
      EXPORT_TIMEZONE: 'Mars/Olympus',
      LOG_LEVEL: 'loud',
      AZURITE_IN_MEMORY: 'maybe',
    });
    expect(p).toHaveLength(5);
    for (const name of ['PORT', 'CONSUMER_CONCURRENCY', 'EXPORT_TIMEZONE', 'LOG_LEVEL', 'AZURITE_IN_MEMORY']) {
      expect(p.some((x) => x.startsWith(`${name}:`))).toBe(true);
    }
  });

  test('refuses non-embedded storage without users', () => {
    const p = problems({ AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' });
    expect(p).toEqual([expect.stringMatching(/^AUTH_USERS: no users configured/)]);
  });

  test('refuses a plain-text password, without echoing it', () => {
    const p = problems({ AUTH_USERS: JSON.stringify([{ name: 'onprem', roles: ['exporter'], passwordHash: 'hunter2' }]) });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^AUTH_USERS: .*not a scrypt hash/);
    expect(p[0]).not.toContain('hunter2');
  });

  test('names AUTH_USERS_FILE when the file is unreadable', () => {
    expect(problems({ AUTH_USERS_FILE: '/nonexistent/users.json' })).toEqual([expect.stringMatching(/^AUTH_USERS_FILE: cannot read/)]);
  });

  test('account name selects managed identity with derived endpoints', () => {
    const c = loadConfig({ AZURE_STORAGE_ACCOUNT_NAME: 'contoso', AUTH_USERS: '[]' });
    expect(c.storage).toEqual({
      kind: 'identity',
      tableEndpoint: 'https://contoso.table.core.windows.net',
      queueEndpoint: 'https://contoso.queue.core.windows.net',
    });
  });

  test('the per-address failure budget is at least the per-(name, address) one', () => {
    expect(loadConfig({}).AUTH_MAX_FAILURES_PER_ADDRESS).toBe(100);
    expect(problems({ AUTH_MAX_FAILURES: '20', AUTH_MAX_FAILURES_PER_ADDRESS: '19' })).toEqual([
      'AUTH_MAX_FAILURES_PER_ADDRESS: must be at least AUTH_MAX_FAILURES',
    ]);
    expect(problems({ AUTH_MAX_FAILURES: '20', AUTH_MAX_FAILURES_PER_ADDRESS: '20' })).toEqual([]);
  });

  test('queue and table names are checked against Azure rules', () => {
    const p = problems({ APPROVALS_QUEUE: 'Bad_Name', EXPORT_TABLE: '1table' });
    expect(p.map((x) => x.split(':')[0]).sort()).toEqual(['APPROVALS_QUEUE', 'EXPORT_TABLE']);
  });
});
