/**
 * Exact comparison of BSON numbers across int32/int64/double/Decimal128, as mongod does:
 * `NumberLong(5) == 5 == 5.0 == NumberDecimal("5.0")`, and NaN sorts below every other number.
 * Finite values are compared as exact rationals p/q with BigInt when the fast path (two JS
 * numbers) does not apply.
 */
import type { Decimal128, Long } from 'bson';
import { bsonTag } from './values.js';

type Numeric = number | Long | Decimal128;

interface Rational {
  kind: 'finite';
  numerator: bigint;
  denominator: bigint;
}
type NumericValue = Rational | { kind: 'nan' } | { kind: 'inf'; sign: 1 | -1 };

function rationalFromDouble(value: number): NumericValue {
  if (Number.isNaN(value)) return { kind: 'nan' };
  if (!Number.isFinite(value)) return { kind: 'inf', sign: value > 0 ? 1 : -1 };
  let scaled = value;
  let denominator = 1n;
  // Doubling a double is exact, so this terminates with an exact integer numerator.
  while (!Number.isInteger(scaled)) {
    scaled *= 2;
    denominator *= 2n;
  }
  return { kind: 'finite', numerator: BigInt(scaled), denominator };
}

function rationalFromDecimalString(text: string): NumericValue {
  if (/nan/i.test(text)) return { kind: 'nan' };
  if (/inf/i.test(text)) return { kind: 'inf', sign: text.startsWith('-') ? -1 : 1 };
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (match === null) return { kind: 'nan' };
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  const digits = BigInt(`${whole}${fraction}` || '0') * (sign === '-' ? -1n : 1n);
  const exponent = Number(exponentText) - fraction.length;
  if (exponent >= 0) return { kind: 'finite', numerator: digits * 10n ** BigInt(exponent), denominator: 1n };
  return { kind: 'finite', numerator: digits, denominator: 10n ** BigInt(-exponent) };
}

export function toNumericValue(value: Numeric): NumericValue {
  if (typeof value === 'number') return rationalFromDouble(value);
  const tag = bsonTag(value);
  if (tag === 'Long') return { kind: 'finite', numerator: (value as Long).toBigInt(), denominator: 1n };
  if (tag === 'Decimal128') return rationalFromDecimalString(value.toString());
  // Int32 / Double wrappers expose valueOf().
  return rationalFromDouble(Number((value as { valueOf(): unknown }).valueOf()));
}

function rank(value: NumericValue): number {
  if (value.kind === 'nan') return 0;
  if (value.kind === 'inf') return value.sign === -1 ? 1 : 3;
  return 2;
}

export function compareNumeric(a: Numeric, b: Numeric): number {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a < b) return -1;
    if (a > b) return 1;
    if (a === b) return 0;
    const aNaN = Number.isNaN(a);
    const bNaN = Number.isNaN(b);
    return aNaN === bNaN ? 0 : aNaN ? -1 : 1;
  }
  const left = toNumericValue(a);
  const right = toNumericValue(b);
  const rankDiff = rank(left) - rank(right);
  if (rankDiff !== 0) return Math.sign(rankDiff);
  if (left.kind !== 'finite' || right.kind !== 'finite') return 0;
  const lhs = left.numerator * right.denominator;
  const rhs = right.numerator * left.denominator;
  return lhs < rhs ? -1 : lhs > rhs ? 1 : 0;
}

/**
 * A string that is equal for numerically equal values of any BSON numeric type, used for
 * index keys and grouping. Values exactly representable as a double use the double's text.
 */
export function numericKey(value: Numeric): string {
  if (typeof value === 'number') return doubleKey(value);
  const exact = toNumericValue(value);
  if (exact.kind === 'nan') return 'NaN';
  if (exact.kind === 'inf') return exact.sign > 0 ? 'Infinity' : '-Infinity';
  // Reduced first: Number(p) / Number(q) of an unreduced fraction (a decimal's 10^k denominator)
  // can miss a double that the value equals exactly.
  const divisor = gcd(abs(exact.numerator), exact.denominator);
  const numerator = exact.numerator / divisor;
  const denominator = exact.denominator / divisor;
  const approx = nearestDouble(numerator, denominator);
  if (compareNumeric(approx, value) === 0) return doubleKey(approx);
  return `${numerator}/${denominator}`;
}

/** p/q as a double: exact whenever p/q equals a double (then q is a power of two). */
function nearestDouble(numerator: bigint, denominator: bigint): number {
  const q = Number(denominator);
  if (Number.isFinite(q)) return Number(numerator) / q;
  // q beyond the double range: only a power of two can make p/q a (subnormal) double.
  return Number(numerator) * 2 ** -(denominator.toString(2).length - 1);
}

function doubleKey(value: number): string {
  return Object.is(value, -0) ? '0' : String(value);
}

function abs(value: bigint): bigint {
  return value < 0n ? -value : value;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a;
  let y = b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x === 0n ? 1n : x;
}
