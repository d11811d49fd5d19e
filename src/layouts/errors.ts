/** Domain errors of layouts; the HTTP layer maps them to problems (src/http/error-middleware.ts), the CLI prints their message. */

/** A layout name nobody defined; the message lists the known ones. */
export class UnknownLayoutError extends Error {
  override name = 'UnknownLayoutError';
  constructor(
    readonly layout: string,
    readonly known: readonly string[],
  ) {
    super(`Unknown layout "${layout.slice(0, 60)}"; the layouts are: ${known.join(', ')}.`);
  }
}

/** An option the layout cannot honour (a BOM on a file that is not UTF-8). */
export class LayoutOptionError extends Error {
  override name = 'LayoutOptionError';
}

/** The file cannot be written in this layout without changing a value (a value wider than its fixed-width column): refused before any byte. */
export class LayoutRefusedError extends Error {
  override name = 'LayoutRefusedError';
}
