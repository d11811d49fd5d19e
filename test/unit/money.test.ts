import fc from 'fast-check';
import { formatMinor, isCurrency, minorDigits, parseAmount, sumMinor } from '../../src/money/money';

const minor = (input: unknown, currency = 'USD') => {
  const r = parseAmount(input, currency);
  if (!r.ok) throw new Error(r.reason);
  return r.minor;
};

describe('money', () => {
  test('minor digits come from ISO 4217', () => {
    expect([minorDigits('USD'), minorDigits('EUR'), minorDigits('JPY'), minorDigits('BHD')]).toEqual([2, 2, 0, 3]);
    expect(isCurrency('USD')).toBe(true);
    expect(isCurrency('usd')).toBe(false);
    expect(isCurrency('XYZ')).toBe(false);
  });

  test('0.1 + 0.2 is exactly 0.30', () => {
    expect(formatMinor(sumMinor([minor(0.1), minor(0.2)]), 'USD')).toBe('0.30');
    expect(formatMinor(sumMinor([minor('0.1'), minor('0.2')]), 'USD')).toBe('0.30');
  });

  test('strings and numbers parse to the same minor units', () => {
    expect(minor('12.30')).toBe(1230n);
    expect(minor(12.3)).toBe(1230n);
    expect(minor('7')).toBe(700n);
    expect(minor(' 7.5 ')).toBe(750n);
    expect(minor('1200', 'JPY')).toBe(1200n);
    expect(minor('1.234', 'BHD')).toBe(1234n);
  });

  test.each([
    ['12.345', 'USD', 'at most 2 decimal places'],
    ['12.5', 'JPY', 'no minor unit'],
    ['-1.00', 'USD', 'positive decimal'],
    ['0', 'USD', 'greater than zero'],
    ['0.00', 'USD', 'greater than zero'],
    ['1e3', 'USD', 'positive decimal'],
    [1e21, 'USD', 'out of range'],
    [Number.NaN, 'USD', 'finite'],
    ['1000000000.01', 'USD', 'must not exceed'],
    ['12,30', 'USD', 'positive decimal'],
    [null, 'USD', 'decimal string or number'],
    [true, 'USD', 'decimal string or number'],
  ])('%p %s is refused (%s)', (input, currency, reason) => {
    const r = parseAmount(input, currency);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain(reason);
  });

  test('formatting always shows exactly the minor digits', () => {
    expect(formatMinor(30n, 'USD')).toBe('0.30');
    expect(formatMinor(5n, 'USD')).toBe('0.05');
    expect(formatMinor(100000n, 'USD')).toBe('1000.00');
    expect(formatMinor(1200n, 'JPY')).toBe('1200');
    expect(formatMinor(1n, 'BHD')).toBe('0.001');
  });

  test('property: format/parse round-trip any amount, and the total is the exact sum', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 1n, max: 100_000_000_000n }), { minLength: 1, maxLength: 100 }), (cents) => {
        for (const c of cents) expect(minor(formatMinor(c, 'USD'))).toBe(c);
        const formatted = formatMinor(sumMinor(cents), 'USD');
        expect(formatted).toMatch(/^\d+\.\d{2}$/);
        expect(BigInt(formatted.replace('.', ''))).toBe(cents.reduce((a, b) => a + b, 0n));
      }),
      { numRuns: 300 },
    );
  });
});
