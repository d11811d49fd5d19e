import {
  dayState,
  decodeTotals,
  emptyManifest,
  encodeTotals,
  FORMAT_VERSION,
  matchesSnapshot,
  snapshotEtag,
  subtractTotals,
  totalsHeader,
  totalsJson,
  unacknowledgedRows,
  withRow,
  type Manifest,
  type Totals,
} from '../../src/export/manifest';

const day = '2026-03-14';

describe('manifest: withRow', () => {
  test.each([
    { rows: [], seq: 0, totals: {} },
    { rows: [['USD', '12.50']], seq: 1, totals: { USD: 1250n } },
    {
      rows: [
        ['USD', '0.10'],
        ['USD', '0.20'],
      ],
      seq: 2,
      totals: { USD: 30n },
    },
    {
      rows: [
        ['USD', '1.00'],
        ['EUR', '2.00'],
        ['JPY', '300'],
      ],
      seq: 3,
      totals: { USD: 100n, EUR: 200n, JPY: 300n },
    },
    {
      rows: [
        ['BHD', '1.234'],
        ['BHD', '0.001'],
      ],
      seq: 2,
      totals: { BHD: 1235n },
    },
  ])('$rows.length rows → seq $seq, totals $totals', ({ rows, seq, totals }) => {
    const m = rows.reduce((acc, [currency, amount]) => withRow(acc, { currency, amount }), emptyManifest(day));
    expect(m).toMatchObject({ date: day, seq, rowCount: seq, totals });
  });

  test('does not change the manifest it was given', () => {
    const before = emptyManifest(day);
    withRow(before, { currency: 'USD', amount: '1.00' });
    expect(before).toEqual(emptyManifest(day));
  });

  test.each([
    ['USD', '1.001'],
    ['JPY', '1.5'],
    ['USD', 'abc'],
    ['USD', '-5.00'],
  ])('a row amount that is not exact money (%s %s) stops the write', (currency, amount) => {
    expect(() => withRow(emptyManifest(day), { currency, amount })).toThrow(/not exact money/);
  });
});

describe('manifest: the totals codec', () => {
  test.each<[string, Totals]>([
    ['none', {}],
    ['one currency', { USD: 1250n }],
    ['several, with zero and negative', { USD: 0n, EUR: -5n, JPY: 300n }],
    ['beyond a double', { USD: 9_007_199_254_740_993n }],
  ])('%s: decode(encode(t)) is t', (_name, totals) => {
    expect(decodeTotals(encodeTotals(totals))).toEqual(totals);
  });

  test('encodes minor units as decimal strings', () => {
    expect(encodeTotals({ USD: 9_007_199_254_740_993n })).toBe('{"USD":"9007199254740993"}');
  });

  test.each([undefined, null, '', 42])('nothing stored (%p) is no totals', (stored) => {
    expect(decodeTotals(stored)).toEqual({});
  });

  test.each<[Totals, string | undefined, Record<string, string>]>([
    [{}, undefined, {}],
    [{ USD: 1250n }, 'usd="12.50"', { USD: '12.50' }],
    [{ USD: 100n, EUR: 5n, BHD: 1234n }, 'bhd="1.234", eur="0.05", usd="1.00"', { BHD: '1.234', EUR: '0.05', USD: '1.00' }],
  ])('%p as a header %p and as JSON', (totals, header, json) => {
    expect(totalsHeader(totals)).toBe(header);
    expect(totalsJson(totals)).toEqual(json);
    expect(Object.keys(totalsJson(totals))).toEqual(Object.keys(json)); // in currency order
  });

  test('subtractTotals drops currencies that cancel out', () => {
    expect(subtractTotals({ USD: 300n, EUR: 100n }, { USD: 100n, EUR: 100n })).toEqual({ USD: 200n });
  });
});

describe('manifest: dayState and unacknowledged rows', () => {
  const m = (over: Partial<Manifest>): Manifest => ({ ...emptyManifest(day), ...over });
  test.each([
    { seq: 0, closedSeq: undefined, state: 'open' },
    { seq: 5, closedSeq: undefined, state: 'open' },
    { seq: 5, closedSeq: 5, state: 'closed' },
    { seq: 0, closedSeq: 0, state: 'closed' },
    { seq: 6, closedSeq: 5, state: 'late' },
  ])('seq $seq, closedSeq $closedSeq: $state', ({ seq, closedSeq, state }) => {
    expect(dayState(m({ seq, rowCount: seq, closedSeq }))).toBe(state);
  });

  test.each([
    { seq: 0, acknowledgedThrough: 0, left: 0 },
    { seq: 5, acknowledgedThrough: 0, left: 5 },
    { seq: 5, acknowledgedThrough: 3, left: 2 },
    { seq: 5, acknowledgedThrough: 5, left: 0 },
  ])('seq $seq acknowledged through $acknowledgedThrough: $left unacknowledged', ({ seq, acknowledgedThrough, left }) => {
    expect(unacknowledgedRows(m({ seq, acknowledgedThrough }))).toBe(left);
  });
});

describe('manifest: snapshot ETags and matching', () => {
  test.each([
    { after: 0, through: 7, variant: [], etag: `"${day}.0-7.v${FORMAT_VERSION}"` },
    { after: 3, through: 7, variant: [], etag: `"${day}.3-7.v${FORMAT_VERSION}"` },
    { after: 0, through: 7, variant: ['bom'], etag: `"${day}.0-7.v${FORMAT_VERSION}.bom"` },
    { after: 0, through: 7, variant: ['bom', 'gzip'], etag: `"${day}.0-7.v${FORMAT_VERSION}.bom.gzip"` },
  ])('rows ($after, $through] with $variant: $etag', ({ after, through, variant, etag }) => {
    expect(snapshotEtag(day, after, through, variant)).toBe(etag);
  });

  const base = snapshotEtag(day, 0, 7);
  const gz = snapshotEtag(day, 0, 7, ['gzip']);
  test.each([
    { header: undefined, matches: false },
    { header: '', matches: false },
    { header: '*', matches: true },
    { header: ' * ', matches: true },
    { header: base, matches: true },
    { header: `W/${base}`, matches: true },
    { header: gz, matches: true }, // another variant holds the same rows
    { header: `"other", ${gz}`, matches: true },
    { header: snapshotEtag(day, 0, 6), matches: false },
    { header: snapshotEtag(day, 1, 7), matches: false },
    { header: snapshotEtag('2026-03-15', 0, 7), matches: false },
    { header: `"${day}.0-77.v${FORMAT_VERSION}"`, matches: false }, // a prefix of the seq is not the seq
    { header: `"${day}.0-7.v${FORMAT_VERSION + 1}"`, matches: false }, // another format
  ])('If-None-Match $header: $matches', ({ header, matches }) => {
    expect(matchesSnapshot(header, day, 0, 7)).toBe(matches);
  });
});
