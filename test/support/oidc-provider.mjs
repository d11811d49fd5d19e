// A real OpenID provider (oidc-provider, OpenID-certified) for the tests and for trying bearer tokens by hand.
// ESM-only, so it runs as its own Node process: `node test/support/oidc-provider.mjs <config.json>`.
//
// config.json: { "port"?: 0, "audience": "api://expense-export", "tenantId": "<guid>",
//   "jwks": { "keys": [<private JWKs, with kid>] },
//   "clients": [{ "client_id", "client_secret", "roles": ["Exports.Read"], "oid"?: "<guid>", "tid"?: "<guid>" }] }
//
// It issues JWT access tokens for client credentials (resource indicators: `resource` picks `aud`, default
// `audience`), with Entra's claims added: roles, tid, oid, azp. Prints one line {"listening": "<issuer>"}, then
// obeys JSON lines on stdin, answering each with one line:
//   {"cmd":"rotate","jwks":{...}}  serve these keys from now on (a key rotation)
//   {"cmd":"jwks","up":false}      the JWKS endpoint answers 503 (an outage), or again normally with up:true
//   {"cmd":"stats"}                {"jwksHits": n}: how often the keys were fetched
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(config.clients.map((c) => [c.client_id, c]));
let jwksUp = true;
let jwksHits = 0;
let handler = () => {};

function provider(issuer, jwks) {
  const p = new Provider(issuer, {
    jwks,
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => config.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'api',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const c = byId.get(token.clientId) ?? {};
      return { roles: c.roles ?? [], tid: c.tid ?? config.tenantId, oid: c.oid, azp: token.clientId };
    },
  });
  return p.callback();
}

const server = createServer((req, res) => {
  if (req.url?.startsWith('/jwks')) {
    jwksHits++;
    if (!jwksUp) {
      res.writeHead(503).end();
      return;
    }
  }
  handler(req, res);
});
server.listen(config.port ?? 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  handler = provider(issuer, config.jwks);
  process.stdout.write(`${JSON.stringify({ listening: issuer })}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    const m = JSON.parse(line);
    if (m.cmd === 'rotate') handler = provider(issuer, m.jwks);
    if (m.cmd === 'jwks') jwksUp = m.up;
    process.stdout.write(`${JSON.stringify({ ok: m.cmd, jwksHits })}\n`);
  });
});
process.stdin.on('end', () => process.exit(0)); // the test (or shell) that started us is gone
