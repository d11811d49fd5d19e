import iconv from 'iconv-lite';

/** The encodings a layout may name; `utf-8-bom` is UTF-8 with a byte order mark first. */
export const ENCODINGS = ['utf-8', 'utf-8-bom', 'windows-1252', 'iso-8859-1', 'iso-8859-15'] as const;
export type EncodingName = (typeof ENCODINGS)[number];

/** The name of the transliteration rules (docs/layouts.md): in a response header, so a receiver knows what was applied. */
export const TRANSLITERATION = 'latin-fold-1';

export const isSingleByte = (e: EncodingName): boolean => e !== 'utf-8' && e !== 'utf-8-bom';

/** The charset parameter of Content-Type. */
export const charsetOf = (e: EncodingName): string => (isSingleByte(e) ? e : 'utf-8');

/**
 * Characters without a form in every Latin code page that have a
 * conventional Latin spelling and no canonical decomposition (so NFD
 * cannot find their base letter). The rest of Latin folds through NFD.
 */
const FOLD: Record<string, string> = {
  Ł: 'L', ł: 'l', Đ: 'D', đ: 'd', Ħ: 'H', ħ: 'h', ı: 'i', Ŀ: 'L', ŀ: 'l', Ŧ: 'T', ŧ: 't', Ø: 'O', ø: 'o',
  Œ: 'OE', œ: 'oe', Æ: 'AE', æ: 'ae', ß: 'ss', Þ: 'Th', þ: 'th', Ð: 'D', ð: 'd', ĸ: 'q', ŉ: "'n", Ŋ: 'N', ŋ: 'n',
  '€': 'EUR', '‘': "'", '’': "'", '‚': "'", '“': '"', '”': '"', '„': '"', '–': '-', '—': '-', '…': '...',
  '•': '*', '™': 'TM', '‹': '<', '›': '>', 'ˆ': '^', '˜': '~', '\u00A0': ' ',
}; // prettier-ignore

/** Knows which characters an encoding holds, and turns text into its bytes without ever guessing silently. */
export class Charset {
  private readonly holds: (s: string) => boolean;
  private readonly unheld: RegExp | undefined;

  constructor(readonly name: EncodingName) {
    if (!isSingleByte(name)) {
      // UTF-8 holds every scalar value; a lone surrogate cannot occur in text that came through JSON and zod.
      this.holds = () => true;
      return;
    }
    const repertoire = [...iconv.decode(Buffer.from(Array.from({ length: 256 }, (_, i) => i)), name)].filter((c) => c !== '\uFFFD');
    const set = new Set(repertoire);
    // One regex test per cell is the common path: most text is held as it is.
    const escaped = [...set].filter((c) => c.charCodeAt(0) > 0x7f).map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    this.unheld = new RegExp(`[^\\x00-\\x7F${escaped.join('')}]`, 'u');
    this.holds = (s) => [...s].every((c) => set.has(c));
  }

  /** True when every character of `s` has a byte in this encoding. */
  canHold(s: string): boolean {
    return this.unheld ? !this.unheld.test(s) : true;
  }

  /**
   * `s` as this encoding can hold it, and how many characters were changed.
   * Rules (latin-fold-1): the FOLD table; else NFD without its combining
   * marks (ř → r, ć → c), when that base is held; else `[U+XXXX]`. Never a
   * `?`, never a dropped character, and the same text always folds the same way.
   */
  fold(s: string): { text: string; changed: number } {
    if (this.canHold(s)) return { text: s, changed: 0 };
    let changed = 0;
    let out = '';
    for (const c of s.normalize('NFC')) {
      if (this.holds(c)) {
        out += c;
        continue;
      }
      changed++;
      const mapped = FOLD[c];
      if (mapped !== undefined && this.holds(mapped)) {
        out += mapped;
        continue;
      }
      const base = c.normalize('NFD').replace(/\p{M}/gu, '');
      out += base !== '' && this.holds(base) ? base : `[U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`;
    }
    return { text: out, changed };
  }

  /** The bytes of text that canHold (fold it first); a BOM first when the encoding asks for one and `first` says so. */
  encode(text: string, first: boolean): Buffer {
    if (!isSingleByte(this.name)) return Buffer.from(first && this.name === 'utf-8-bom' ? `\uFEFF${text}` : text, 'utf8');
    return iconv.encode(text, this.name);
  }
}
