import type { TokenCredential } from '@azure/core-auth';
import type { Pipeline, PipelineRequest } from '@azure/core-rest-pipeline';
import type { QueueClient } from '@azure/storage-queue';
import { loadConfig, ConfigError, type Config } from '../../src/config';
import { createStorageClients, type ResolvedStorage } from '../../src/storage/clients';
import { azuriteConnectionString } from '../../src/storage/embedded-azurite';

/**
 * Which client construction each configuration yields, checked on the
 * request the SDK would send (URL and Authorization header), captured by a
 * pipeline policy after signing that never lets it reach the network.
 */

const NAMES = {
  EXPENSES_TABLE: 'Expenses',
  EXPENSE_ITEMS_TABLE: 'ExpenseItems',
  EXPORT_TABLE: 'ExpenseExport',
  OUTBOX_TABLE: 'ExpenseOutbox',
  RESULT_IMPORTS_TABLE: 'ResultImports',
  APPROVALS_QUEUE: 'expense-approvals',
  poisonQueue: 'expense-approvals-poison',
  STORAGE_TIMEOUT_MS: 1000,
};

async function captured(pipeline: Pipeline, call: () => Promise<unknown>): Promise<PipelineRequest> {
  let request: PipelineRequest | undefined;
  pipeline.addPolicy(
    {
      name: 'capture-and-stop',
      sendRequest: async (req) => {
        request = req;
        throw new Error('stopped before the network');
      },
    },
    { afterPhase: 'Sign' },
  );
  await expect(call()).rejects.toThrow('stopped before the network');
  return request!;
}

const queuePipeline = (q: QueueClient) => (q as unknown as { storageClientContext: { pipeline: Pipeline } }).storageClientContext.pipeline;

async function signedRequests(source: ResolvedStorage, credentialFactory: () => TokenCredential) {
  const c = createStorageClients(source, NAMES, credentialFactory);
  const table = await captured(c.exports.pipeline, () => c.exports.getEntity('2026-01-02', 'x'));
  const queue = await captured(queuePipeline(c.poison), () => c.poison.getProperties());
  return { table, queue, clients: c };
}

const noCredential = () => {
  throw new Error('a token credential must not be created for a connection string');
};

const storageOf = (env: Record<string, string>): Config['storage'] => loadConfig(env, { requireUsers: false }).storage;

describe('storage source from the environment', () => {
  test('a connection string wins over an account name', () => {
    expect(storageOf({ AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true', AZURE_STORAGE_ACCOUNT_NAME: 'contoso' })).toEqual({
      kind: 'connection-string',
      connectionString: 'UseDevelopmentStorage=true',
    });
  });

  test('an account name gives the public endpoints with a token credential', () => {
    expect(storageOf({ AZURE_STORAGE_ACCOUNT_NAME: 'contoso' })).toEqual({
      kind: 'identity',
      tableEndpoint: 'https://contoso.table.core.windows.net',
      queueEndpoint: 'https://contoso.queue.core.windows.net',
    });
  });

  test('explicit endpoints (private link, sovereign clouds) win over the derived ones', () => {
    const env = {
      AZURE_STORAGE_ACCOUNT_NAME: 'contoso',
      AZURE_STORAGE_TABLE_ENDPOINT: 'https://t.example.net',
      AZURE_STORAGE_QUEUE_ENDPOINT: 'https://q.example.net',
    };
    expect(storageOf(env)).toEqual({ kind: 'identity', tableEndpoint: 'https://t.example.net', queueEndpoint: 'https://q.example.net' });
    expect(() => loadConfig({ AZURE_STORAGE_TABLE_ENDPOINT: 'https://t.example.net' }, { requireUsers: false })).toThrow(ConfigError);
  });

  test('nothing configured: the embedded Azurite', () => {
    expect(storageOf({})).toEqual({ kind: 'embedded', location: '.azurite', inMemory: false });
    expect(storageOf({ AZURITE_LOCATION: '/var/lib/ee', AZURITE_IN_MEMORY: 'true' })).toEqual({
      kind: 'embedded',
      location: '/var/lib/ee',
      inMemory: true,
    });
  });
});

describe('client construction', () => {
  test('UseDevelopmentStorage=true: the well-known Azurite account on the default local ports, shared key, plain HTTP allowed', async () => {
    const { table, queue } = await signedRequests(
      { kind: 'connection-string', connectionString: 'UseDevelopmentStorage=true' },
      noCredential,
    );
    expect(table.url).toBe("http://127.0.0.1:10002/devstoreaccount1/ExpenseExport(PartitionKey='2026-01-02',RowKey='x')");
    expect(table.headers.get('authorization')).toMatch(/^SharedKeyLite devstoreaccount1:/);
    expect(table.allowInsecureConnection).toBe(true);
    expect(queue.url).toMatch(/^http:\/\/127\.0\.0\.1:10001\/devstoreaccount1\/expense-approvals-poison\?comp=metadata/);
    expect(queue.headers.get('authorization')).toMatch(/^SharedKey devstoreaccount1:/);
  });

  test('an Azurite connection string with explicit endpoints (the embedded one) uses those ports', async () => {
    const { table, queue } = await signedRequests(
      { kind: 'connection-string', connectionString: azuriteConnectionString(41001, 41002) },
      noCredential,
    );
    expect(table.url).toMatch(/^http:\/\/127\.0\.0\.1:41001\/devstoreaccount1\/ExpenseExport\(/);
    expect(queue.url).toMatch(/^http:\/\/127\.0\.0\.1:41002\/devstoreaccount1\/expense-approvals-poison\?/);
  });

  test('a real account connection string: HTTPS endpoints of that account, shared key, no plain HTTP', async () => {
    const key = Buffer.alloc(64, 7).toString('base64');
    const cs = `DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=${key};EndpointSuffix=core.windows.net`;
    const { table, queue } = await signedRequests({ kind: 'connection-string', connectionString: cs }, noCredential);
    expect(table.url).toMatch(/^https:\/\/contoso\.table\.core\.windows\.net\/ExpenseExport\(/);
    expect(table.headers.get('authorization')).toMatch(/^SharedKeyLite contoso:/);
    expect(table.allowInsecureConnection).toBeFalsy();
    expect(queue.url).toMatch(/^https:\/\/contoso\.queue\.core\.windows\.net\/expense-approvals-poison\?/);
    expect(queue.headers.get('authorization')).toMatch(/^SharedKey contoso:/);
  });

  test('account name / endpoints: one token credential for every client, bearer tokens for the storage scope', async () => {
    const scopes: string[] = [];
    const credential: TokenCredential = {
      getToken: async (s) => {
        scopes.push(...(Array.isArray(s) ? s : [s]));
        return { token: 'token-from-managed-identity', expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const factory = jest.fn(() => credential);
    const { table, queue, clients } = await signedRequests(
      {
        kind: 'identity',
        tableEndpoint: 'https://contoso.table.core.windows.net',
        queueEndpoint: 'https://contoso.queue.core.windows.net',
      },
      factory,
    );
    expect(factory).toHaveBeenCalledTimes(1);
    expect(table.url).toMatch(/^https:\/\/contoso\.table\.core\.windows\.net\/ExpenseExport\(/);
    expect(queue.url).toMatch(/^https:\/\/contoso\.queue\.core\.windows\.net\/expense-approvals-poison\?/);
    expect(table.headers.get('authorization')).toBe('Bearer token-from-managed-identity');
    expect(queue.headers.get('authorization')).toBe('Bearer token-from-managed-identity');
    expect(new Set(scopes)).toEqual(new Set(['https://storage.azure.com/.default']));
    expect([clients.expenses, clients.items, clients.outbox].map((t) => t.tableName)).toEqual([
      'Expenses',
      'ExpenseItems',
      'ExpenseOutbox',
    ]);
    expect(clients.queue.name).toBe('expense-approvals');
  });
});
