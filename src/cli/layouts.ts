import { builtInLayouts, checkLayoutFile, type LayoutRegistry } from '../layouts/registry';
import { layoutView } from '../layouts/layout-view';
import { CliError, config, printJson } from './common';

/** The layouts the server would serve: built-in and LAYOUTS_DIR's, each checked. No storage is touched. */
function registry(): LayoutRegistry {
  return config({ requireUsers: false }).layouts;
}

export function layoutsListCommand(): Promise<void> {
  printJson(
    registry()
      .list()
      .map((l) => ({
        name: l.layout.name,
        version: l.layout.version,
        grain: l.layout.grain,
        kind: l.layout.kind,
        encoding: l.layout.encoding,
        source: l.source,
      })),
  );
  return Promise.resolve();
}

export function layoutsShowCommand(name: string): Promise<void> {
  const r = registry();
  const found = r.get(name);
  if (!found) throw new CliError(`no layout "${name}"; the layouts are: ${r.names().join(', ')}`);
  printJson(layoutView(found));
  return Promise.resolve();
}

/**
 * Checks layout files as the server does at start (every problem, naming
 * the file and the field), without starting anything: exit 0 and a line
 * per file when all are good, else the problems on stderr and exit 2.
 * EXPORT_TIMEZONE is read when set; nothing else of the configuration is needed.
 */
export function layoutsCheckCommand(files: string[]): Promise<void> {
  const tz = config({ requireUsers: false }).EXPORT_TIMEZONE;
  const problems: string[] = [];
  const names = new Set(builtInLayouts(tz).names());
  for (const f of files) {
    const r = checkLayoutFile(f, tz);
    problems.push(...r.problems);
    if (r.layout && names.has(r.layout.layout.name))
      problems.push(`${f}: name: "${r.layout.layout.name}" is already the name of a built-in layout`);
    if (r.layout && problems.length === 0)
      process.stdout.write(`${f}: ok (${r.layout.layout.name}, version ${r.layout.layout.version}, ${r.layout.tag})\n`);
  }
  if (problems.length) {
    // One line per problem (not the CLI's usual one line): each names a file and a field to fix.
    process.stderr.write(`expense-export: invalid layout:\n  ${problems.join('\n  ')}\n`);
    process.exitCode = 2;
  }
  return Promise.resolve();
}
