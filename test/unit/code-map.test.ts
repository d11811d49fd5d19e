import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * docs/development.md's code map names every file under src/ and routes/,
 * and the document names no file that does not exist: a new file, a move
 * or a deletion that forgets the map fails here.
 */

const ROOT = join(__dirname, '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'development.md'), 'utf8');
/** A source path in backquotes, possibly followed by `:function`. */
const PATH = /`((?:src|routes)\/[A-Za-z0-9_./-]+\.ts)(?::[^`]*)?`/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [relative(ROOT, join(ROOT, path)).split('\\').join('/')] : [];
  });
}

function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  if (start < 0) return '';
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

const named = (text: string): Set<string> => new Set([...text.matchAll(PATH)].map((m) => m[1]));
const files = [...sourceFiles('src'), ...sourceFiles('routes')].sort();

describe('docs/development.md code map', () => {
  test('finds the source files and the map (so the checks below can fail)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain('src/services.ts');
    expect(named(section(DOC, 'Code map')).size).toBeGreaterThan(50);
  });

  test('names every file under src/ and routes/', () => {
    const map = named(section(DOC, 'Code map'));
    expect(files.filter((f) => !map.has(f))).toEqual([]);
  });

  test('names only files that exist (the map and the traces)', () => {
    const existing = new Set(files);
    expect([...named(DOC)].filter((f) => !existing.has(f))).toEqual([]);
  });

  test('has both traces, as numbered file:function steps', () => {
    const traces = section(DOC, 'Two traces');
    for (const title of ['A message from the queue to a row', 'A GET to its CSV']) {
      const start = traces.indexOf(`**${title}**`);
      expect(start).toBeGreaterThanOrEqual(0);
      const steps = traces.slice(start).split('\n\n')[1] ?? '';
      expect(steps).toMatch(/^1\. `(?:src|routes)\/[^`]+\.ts:\w+/);
    }
  });
});
