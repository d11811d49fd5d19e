import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ZodType } from 'zod';
import { envSchema, TEST_ONLY_VARIABLES } from '../../src/config';

/**
 * docs/operations.md's configuration table is the operators' reference; this keeps it
 * honest against src/config.ts: same variables, same defaults, and every
 * example a value the config actually accepts.
 */

interface Row {
  name: string;
  defaultCell: string;
  example: string;
}

const UNSET = '(unset)';
const README = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');

/** Rows of the first table under "## Configuration", up to the next "## " heading. */
function configurationRows(readme: string): { rows: Row[]; problems: string[] } {
  const start = readme.indexOf('\n## Configuration\n');
  if (start < 0) return { rows: [], problems: ['README has no "## Configuration" section'] };
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows: Row[] = [];
  const problems: string[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.replace(/^\|\s*|\s*\|$/g, '').split(/\s+\|\s+/);
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0] ?? '')?.[1];
    if (cells.length !== 4 || !name) {
      problems.push(`malformed row (want | \`VAR\` | default | meaning | example |): ${line}`);
      continue;
    }
    rows.push({ name, defaultCell: cells[1], example: cells[3] });
  }
  return { rows, problems };
}

const unquote = (cell: string) => /^`(.*)`$/.exec(cell)?.[1];

function schemaDefault(field: ZodType): string {
  const parsed = field.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return UNSET;
  const value: unknown = parsed.data;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function disagreements(readme: string, shape: Record<string, ZodType>): string[] {
  const { rows, problems } = configurationRows(readme);
  const seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(row.name)) problems.push(`${row.name}: listed twice in the README`);
    seen.add(row.name);
    const field = shape[row.name];
    if (TEST_ONLY_VARIABLES.has(row.name as never)) {
      problems.push(`${row.name}: test-only, not for the operators' table`);
      continue;
    }
    if (!field) {
      problems.push(`${row.name}: in the README table but not in src/config.ts`);
      continue;
    }
    const documented = row.defaultCell === UNSET ? UNSET : unquote(row.defaultCell);
    const actual = schemaDefault(field);
    if (documented === undefined) problems.push(`${row.name}: default cell must be \`value\` or ${UNSET}, got ${row.defaultCell}`);
    else if (documented !== actual) problems.push(`${row.name}: README default ${documented}, src/config.ts default ${actual}`);
    const example = unquote(row.example);
    if (example === undefined) problems.push(`${row.name}: example must be \`value\`, got ${row.example}`);
    else if (!field.safeParse(example).success) problems.push(`${row.name}: README example \`${example}\` is rejected by src/config.ts`);
  }
  for (const name of Object.keys(shape)) {
    if (!seen.has(name) && !TEST_ONLY_VARIABLES.has(name as never)) problems.push(`${name}: in src/config.ts but not in the README table`);
  }
  return problems;
}

const shape = envSchema.shape as unknown as Record<string, ZodType>;

test('the README configuration table and src/config.ts agree', () => {
  expect(configurationRows(README).rows.length).toBeGreaterThan(10);
  expect(disagreements(README, shape)).toEqual([]);
});

describe('the check itself catches drift', () => {
  const portRow = /^\| `PORT` \|.*\n/m;

  test('a variable missing from the table', () => {
    expect(disagreements(README.replace(portRow, ''), shape)).toEqual(['PORT: in src/config.ts but not in the README table']);
  });

  test('a documented variable the config does not read', () => {
    const extra = README.replace(portRow, (row) => `${row}| \`PORTS\` | \`1\` | typo | \`2\` |\n`);
    expect(disagreements(extra, shape)).toEqual(['PORTS: in the README table but not in src/config.ts']);
  });

  test('a wrong default, an invalid example, a duplicate, a malformed row', () => {
    const drifted = README.replace(
      portRow,
      '| `PORT` | `3001` | HTTP(S) port | `http` |\n| `PORT` | `3000` | again | `1` |\n| `HOST` | 127.0.0.1 |\n',
    );
    expect(disagreements(drifted, shape)).toEqual([
      expect.stringMatching(/^malformed row .*: \| `HOST` \| 127\.0\.0\.1 \|$/),
      'PORT: README default 3001, src/config.ts default 3000',
      'PORT: README example `http` is rejected by src/config.ts',
      'PORT: listed twice in the README',
    ]);
  });

  test('unset in the README but defaulted in the config', () => {
    const drifted = README.replace(/^\| `LOG_LEVEL` \| `info` \|/m, '| `LOG_LEVEL` | (unset) |');
    expect(disagreements(drifted, shape)).toEqual(['LOG_LEVEL: README default (unset), src/config.ts default info']);
  });
});
