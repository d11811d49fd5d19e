/**
 * The HTTP baseline: what this machine serves with Express and nothing else,
 * so the export route's req/s can be read as a fraction of it.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';

const app = express();
app.get('/', (_req, res) => {
  res.send('hello world');
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`hello listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
