import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AMOUNT_MAX, FIELDS } from './fields';
import { ISO8601, type DateFormat, type TimeFormat } from './formats';
import { validateLayout, type Layout, type LayoutColumn } from './layout-schema';
import { PRESETS } from './presets';
import { LayoutRenderer } from './render';

/** A layout ready to serve: its document, where it came from, its ETag tag and its renderer. */
export interface CompiledLayout {
  layout: Layout;
  /** `built-in`, or the file it was read from. */
  source: string;
  /**
   * Names the layout in an ETag: `name@version~hash`, the hash over the
   * whole validated definition (and EXPORT_TIMEZONE when it renders in it),
   * so that a changed definition changes every ETag even when its author
   * forgot to raise the version.
   */
  tag: string;
  renderer: LayoutRenderer;
  /** Item grain (Export-Row-Count counts item lines) or a fixed-width value that may not fit: the file is read once before its headers go. */
  prepass: boolean;
}

export class LayoutRegistry {
  private readonly byName: Map<string, CompiledLayout>;
  constructor(layouts: readonly CompiledLayout[]) {
    this.byName = new Map(layouts.map((l) => [l.layout.name, l]));
  }
  get(name: string): CompiledLayout | undefined {
    return this.byName.get(name);
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
  list(): CompiledLayout[] {
    return [...this.byName.values()];
  }
}

export type LoadResult = { ok: true; registry: LayoutRegistry } | { ok: false; problems: string[] };

/** Parses and validates one document; problems are `field: what is wrong`, every one of them. */
export function compileLayout(doc: unknown, source: string, exportTimeZone: string): { layout?: CompiledLayout; problems: string[] } {
  const v = validateLayout(doc);
  if (!v.ok) return { problems: v.problems };
  const layout = v.layout;
  const renderer = new LayoutRenderer(layout, exportTimeZone);
  const problems: string[] = [];
  // Text the author wrote must fit the encoding as it is: folding it would be a silent change of their own words.
  const held = (path: string, s: string) => {
    if (!renderer.charset.canHold(s)) problems.push(`${path}: "${s}" has characters ${layout.encoding} cannot hold`);
  };
  layout.columns.forEach((c, i) => {
    held(`columns.${i}.header`, c.header);
    if (c.value !== undefined) held(`columns.${i}.value`, c.value);
  });
  if (layout.accounts) {
    held('accounts.default', layout.accounts.default);
    for (const [k, a] of Object.entries(layout.accounts.map)) held(`accounts.map.${k}`, a);
  }
  if (problems.length) return { problems };
  const canonical = JSON.stringify({ layout, tz: layout.timeZone === 'export' ? exportTimeZone : 'UTC' });
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 8);
  const prepass = layout.grain === 'item' || (layout.kind === 'fixed' && layout.columns.some((c) => mayOverflow(layout, c)));
  return { layout: { layout, source, tag: `${layout.name}@${layout.version}~${hash}`, renderer, prepass }, problems: [] };
}

/** Whether a fixed-width column's value may be wider than the column (then the file is checked before its headers). */
function mayOverflow(layout: Layout, c: LayoutColumn): boolean {
  if (c.value !== undefined) return false; // checked at load
  const f = FIELDS[c.field!];
  let max: number | undefined;
  if (f.kind === 'amount') max = c.format === 'minor' ? AMOUNT_MAX.minor : AMOUNT_MAX.decimal;
  else if (f.kind === 'timestamp' || f.kind === 'date') {
    const format = c.format ?? layout.dateFormat;
    max = format === ISO8601 ? 29 : (format as DateFormat | TimeFormat).replace('YYYY', '0000').length;
  } else if (f.kind === 'account')
    max = Math.max(layout.accounts!.default.length, ...Object.values(layout.accounts!.map).map((a) => a.length));
  else max = 'maxChars' in f ? f.maxChars : undefined;
  return max === undefined || max > c.width!;
}

/** A layout file's document: JSON by .json, YAML by .yaml or .yml. */
export function readLayoutFile(path: string): { doc?: unknown; problem?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { problem: `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  try {
    return { doc: extname(path) === '.json' ? JSON.parse(text) : parseYaml(text) };
  } catch (err) {
    return { problem: `is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}` };
  }
}

export const LAYOUT_FILE = /\.(json|ya?ml)$/;

/** One file checked the way the service checks it at start (`expense-export layouts check`); problems name the file. */
export function checkLayoutFile(path: string, exportTimeZone: string): { layout?: CompiledLayout; problems: string[] } {
  const read = readLayoutFile(path);
  if (read.problem) return { problems: [`${path}: ${read.problem}`] };
  const r = compileLayout(read.doc, path, exportTimeZone);
  return { layout: r.layout, problems: r.problems.map((p) => `${path}: ${p}`) };
}

/**
 * The presets and every layout file in `dir` (LAYOUTS_DIR), all checked;
 * every problem of every file is reported at once. A file may not take a
 * preset's name, nor two files one name.
 */
export function loadLayouts(dir: string | undefined, exportTimeZone: string): LoadResult {
  const problems: string[] = [];
  const compiled: CompiledLayout[] = [];
  for (const p of PRESETS) {
    const r = compileLayout(p, 'built-in', exportTimeZone);
    if (!r.layout) throw new Error(`built-in layout ${p.name} is invalid: ${r.problems.join('; ')}`);
    compiled.push(r.layout);
  }
  if (dir !== undefined) {
    let files: string[] = [];
    try {
      files = readdirSync(dir)
        .filter((f) => LAYOUT_FILE.test(f))
        .sort();
    } catch (err) {
      problems.push(`${dir}: cannot read the directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    for (const f of files) {
      const path = join(dir, f);
      const r = checkLayoutFile(path, exportTimeZone);
      problems.push(...r.problems);
      if (!r.layout) continue;
      const taken = compiled.find((c) => c.layout.name === r.layout!.layout.name);
      if (taken)
        problems.push(
          `${path}: name: "${r.layout.layout.name}" is already the name of ${taken.source === 'built-in' ? 'a built-in layout' : basename(taken.source)}`,
        );
      else compiled.push(r.layout);
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, registry: new LayoutRegistry(compiled) };
}

/** The presets alone (tests, and a service built without configuration). */
export function builtInLayouts(exportTimeZone = 'UTC'): LayoutRegistry {
  const r = loadLayouts(undefined, exportTimeZone);
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.registry;
}
