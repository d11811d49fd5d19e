import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { projectFile } from '../project-root';

export interface OpenApiDoc {
  paths: Record<string, Record<string, { security?: unknown[]; parameters?: unknown[] }>>;
  [k: string]: unknown;
}

let cached: { text: string; doc: OpenApiDoc } | undefined;

/** openapi.yaml, read and parsed once: the single source of truth for validation and docs. */
export function loadOpenApi(): { text: string; doc: OpenApiDoc } {
  if (!cached) {
    const text = readFileSync(projectFile('openapi.yaml'), 'utf8');
    cached = { text, doc: parse(text) as OpenApiDoc };
  }
  return cached;
}
