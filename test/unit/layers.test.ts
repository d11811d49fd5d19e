import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * eslint.config.mjs's LAYERS decides which imports lint refuses; a folder
 * or top-level file under src/ that no layer names would be outside the
 * rule in both directions. Every one must have its place in the order.
 */

const ROOT = join(__dirname, '..', '..');
const config = readFileSync(join(ROOT, 'eslint.config.mjs'), 'utf8');

/** The names in `const LAYERS = [ ['layer', ['name', ...]], ... ];`, in order. */
function layerNames(): string[][] {
  const block = /const LAYERS = \[([\s\S]*?)\n\];/.exec(config)?.[1] ?? '';
  return [...block.matchAll(/\['[\w-]+', \[([^\]]*)\]\]/g)].map((m) => [...m[1].matchAll(/'([\w-]+)'/g)].map((n) => n[1]));
}

const entries = readdirSync(join(ROOT, 'src')).map((name) => name.replace(/(\.d)?\.ts$/, ''));

test('LAYERS is read (so the check below can fail)', () => {
  expect(layerNames().length).toBeGreaterThan(10);
  expect(layerNames()[0]).toContain('money');
});

test('every folder and top-level file under src/ has a layer', () => {
  const named = new Set(layerNames().flat());
  expect([...new Set(entries)].filter((e) => !named.has(e)).sort()).toEqual([]);
});

test('no name is in two layers', () => {
  const all = layerNames().flat();
  expect(all.filter((n, i) => all.indexOf(n) !== i)).toEqual([]);
});
