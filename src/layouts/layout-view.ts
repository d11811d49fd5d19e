import { charsetOf } from './encoding';
import type { CompiledLayout } from './registry';

/** A layout as GET /layouts and `expense-export layouts show` present it: the validated definition and the names it goes by. */
export function layoutView(c: CompiledLayout) {
  const l = c.layout;
  return {
    name: l.name,
    version: l.version,
    tag: l.name === 'v1' ? '' : c.tag,
    source: c.source,
    contentType: `${l.kind === 'fixed' ? 'text/plain' : 'text/csv'}; charset=${charsetOf(l.encoding)}`,
    definition: l,
  };
}
