import { z } from 'zod';

/**
 * Delivery targets and webhook endpoints as configured (DELIVERY_TARGETS /
 * DELIVERY_TARGETS_FILE, WEBHOOKS / WEBHOOKS_FILE): JSON, validated here
 * with every problem reported at once. Pure: config.ts reads the text.
 */

const PLACEHOLDERS = ['date', 'layout', 'from', 'through', 'target'] as const;

const pathPattern = z
  .string()
  .min(1)
  .max(900)
  .refine((p) => [...p.matchAll(/\{([^}]*)\}/g)].every((m) => (PLACEHOLDERS as readonly string[]).includes(m[1])), {
    message: `unknown placeholder; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`,
  })
  .refine((p) => ['{date}', '{from}', '{through}'].every((ph) => p.includes(ph)), {
    message: 'must contain {date}, {from} and {through}, so that every file has its own name',
  })
  .refine((p) => !p.split('/').some((seg) => seg === '..' || seg === '.'), 'must not contain . or .. segments');

const encryption = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('pgp'), recipientKeyFile: z.string().min(1) }).strict(),
]);

const common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and hyphens, 1-40, not starting with a hyphen'),
  layout: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a layout name such as v1'),
  path: pathPattern,
  encryption: encryption.default({ kind: 'none' }),
};

const blobTarget = z
  .object({
    ...common,
    kind: z.literal('blob'),
    container: z.string().regex(/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/, 'invalid blob container name'),
    /** Shared key or SAS. Neither this nor accountUrl: the service's own storage account. */
    connectionString: z.string().min(1).optional(),
    /** With DefaultAzureCredential (managed identity). */
    accountUrl: z.url().optional(),
  })
  .strict()
  .refine((t) => !(t.connectionString && t.accountUrl), { message: 'set connectionString or accountUrl, not both' });

const sftpTarget = z
  .object({
    ...common,
    kind: z.literal('sftp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1),
    privateKeyFile: z.string().min(1),
    /** OpenSSH's form, `SHA256:<base64>` (ssh-keygen -lf). Required unless trustOnFirstUse. */
    hostKeyFingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256:<base64> as ssh-keygen -l prints it')
      .optional(),
    /** Explicitly accept whatever host key the server shows (logged). Never the default. */
    trustOnFirstUse: z.boolean().default(false),
  })
  .strict()
  .refine((t) => t.hostKeyFingerprint || t.trustOnFirstUse, {
    message: 'hostKeyFingerprint is required (or set trustOnFirstUse: true explicitly)',
    path: ['hostKeyFingerprint'],
  });

const target = z.discriminatedUnion('kind', [blobTarget, sftpTarget]);
export type DeliveryTarget = z.infer<typeof target>;
export type BlobTarget = Extract<DeliveryTarget, { kind: 'blob' }>;
export type SftpTarget = Extract<DeliveryTarget, { kind: 'sftp' }>;

const targets = z.array(target).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((t, i) => {
    if (seen.has(t.name)) ctx.addIssue({ code: 'custom', message: `duplicate target name "${t.name}"`, path: [i, 'name'] });
    seen.add(t.name);
  });
});

export const WEBHOOK_EVENTS = ['day.closed', 'day.late', 'delivery.succeeded', 'delivery.failed', 'results.imported'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

const webhook = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and hyphens, 1-40'),
    url: z.url().refine((u) => /^https?:/.test(u), 'http or https'),
    /** Standard Webhooks secret: `whsec_` + base64 of 24-64 random bytes. */
    secret: z.string().regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'expected whsec_<base64> (Standard Webhooks)'),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
  })
  .strict();
export type WebhookEndpoint = z.infer<typeof webhook>;

const webhooks = z.array(webhook).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((w, i) => {
    if (seen.has(w.name)) ctx.addIssue({ code: 'custom', message: `duplicate webhook name "${w.name}"`, path: [i, 'name'] });
    seen.add(w.name);
  });
});

type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

function parseJsonList<T>(text: string, schema: z.ZodType<T>): Parsed<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`not JSON (${(err as Error).message})`] };
  }
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`) };
}

export const parseDeliveryTargets = (text: string): Parsed<DeliveryTarget[]> => parseJsonList(text, targets);
export const parseWebhooks = (text: string): Parsed<WebhookEndpoint[]> => parseJsonList(text, webhooks);

/** With the embedded Azurite and no targets configured: files go to a container of the same Azurite, so `npm start` delivers. */
export const EMBEDDED_BLOB_TARGET: DeliveryTarget = {
  name: 'local-blob',
  kind: 'blob',
  layout: 'v1',
  container: 'expense-deliveries',
  path: 'expenses/{date}/{layout}-{date}.{from}-{through}.csv',
  encryption: { kind: 'none' },
};
