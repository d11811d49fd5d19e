import { Router } from 'express';
import { getAbsoluteFSPath } from 'swagger-ui-dist';
import { loadOpenApi } from '../src/http/openapi';

const ASSETS = new Set([
  'swagger-ui.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'favicon-32x32.png',
  'favicon-16x16.png',
]);

// No inline script: Helmet's CSP forbids it, so the init code is its own file.
const INDEX = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>expense-export API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script>
</body></html>`;

// validatorUrl null: never send our spec to the public validator (and the CSP would block it).
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.yaml', dom_id: '#swagger-ui', validatorUrl: null, deepLinking: true, tryItOutEnabled: false });`;

/** Self-hosted Swagger UI and the spec; public, like /healthz. */
export function docsRouter(): Router {
  const r = Router();
  const spec = loadOpenApi().text;
  const assetDir = getAbsoluteFSPath();
  r.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(spec);
  });
  r.get('/docs', (_req, res) => {
    res.type('html').send(INDEX);
  });
  r.get('/docs/:asset', (req, res, next) => {
    const asset = req.params.asset;
    if (asset === 'swagger-init.js') return void res.type('application/javascript').send(INIT);
    if (!ASSETS.has(asset)) return next();
    res.sendFile(asset, { root: assetDir, maxAge: '1d' });
  });
  return r;
}
