import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Finds a file at the project root whether we run from src/ (tests) or dist/src/ (built). */
export function projectFile(name: string): string {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, name);
    dir = dirname(dir);
  }
  throw new Error(`cannot locate project root from ${__dirname}`);
}
