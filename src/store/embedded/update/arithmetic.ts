/**
 * $inc/$mul arithmetic with mongod's result types: int + int stays integral (a long past the int32
 * range), anything with a double is a double, long + int/long is a long, and any Decimal128 operand gives a Decimal128
 * (computed exactly on scaled BigInts).
 */
import { Decimal128, Long } from 'bson';
import { isDecimal, isLong } from '../bson/values.js';

export type NumericOperand = number | Long | Decimal128;

interface ScaledDecimal {
  coefficient: bigint;
  exponent: number;
}

function parseDecimal(text: string): ScaledDecimal {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (match === null) return { coefficient: 0n, exponent: 0 };
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  const coefficient = BigInt(`${whole}${fraction}` || '0') * (sign === '-' ? -1n : 1n);
  return { coefficient, exponent: Number(exponent) - fraction.length };
}

function formatDecimal({ coefficient, exponent }: ScaledDecimal): string {
  const negative = coefficient < 0n;
  const digits = (negative ? -coefficient : coefficient).toString();
  if (exponent >= 0) return `${negative ? '-' : ''}${digits}${'0'.repeat(exponent)}`;
  const padded = digits.padStart(-exponent + 1, '0');
  const point = padded.length + exponent;
  return `${negative ? '-' : ''}${padded.slice(0, point)}.${padded.slice(point)}`;
}

function toScaled(value: NumericOperand): ScaledDecimal {
  // Doubles enter decimal arithmetic through their shortest round-trip text, as mongod does.
  return parseDecimal(typeof value === 'number' ? String(value) : value.toString());
}

function decimalResult(a: NumericOperand, b: NumericOperand, combine: (x: ScaledDecimal, y: ScaledDecimal) => ScaledDecimal): Decimal128 {
  const left = toScaled(a);
  const right = toScaled(b);
  return Decimal128.fromString(formatDecimal(combine(left, right)));
}

function addScaled(x: ScaledDecimal, y: ScaledDecimal): ScaledDecimal {
  const exponent = Math.min(x.exponent, y.exponent);
  const align = (value: ScaledDecimal): bigint => value.coefficient * 10n ** BigInt(value.exponent - exponent);
  return { coefficient: align(x) + align(y), exponent };
}

function multiplyScaled(x: ScaledDecimal, y: ScaledDecimal): ScaledDecimal {
  return { coefficient: x.coefficient * y.coefficient, exponent: x.exponent + y.exponent };
}

function integralBigInt(value: NumericOperand): bigint | undefined {
  if (isLong(value)) return value.toBigInt();
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return undefined;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Undefined when an integral (long) result does not fit in an int64: mongod refuses it. */
function combine(
  a: NumericOperand,
  b: NumericOperand,
  decimal: (x: ScaledDecimal, y: ScaledDecimal) => ScaledDecimal,
  bigint: (x: bigint, y: bigint) => bigint,
  double: (x: number, y: number) => number,
): NumericOperand | undefined {
  if (isDecimal(a) || isDecimal(b)) return decimalResult(a, b, decimal);
  if (isLong(a) || isLong(b)) {
    const left = integralBigInt(a);
    const right = integralBigInt(b);
    if (left === undefined || right === undefined) return double(Number(a.toString()), Number(b.toString()));
    const result = bigint(left, right);
    // Long.fromBigInt would silently wrap around.
    return result < INT64_MIN || result > INT64_MAX ? undefined : Long.fromBigInt(result);
  }
  if (isInt32(a) && isInt32(b)) {
    // int op int past the int32 range is a long in mongod, not a double that loses precision.
    const result = bigint(BigInt(a), BigInt(b));
    return result < BigInt(INT32_MIN) || result > BigInt(INT32_MAX) ? Long.fromBigInt(result) : Number(result);
  }
  return double(a as number, b as number);
}

/**
 * Integral numbers in the int32 range: what BSON int32s decode to. A double with an integral value
 * decodes to the same number (the store keeps no int32/double distinction), so it is treated as an
 * int32 here — the common case, since drivers send integral numbers as int32.
 */
function isInt32(value: NumericOperand): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX && !Object.is(value, -0);
}

/** `a + b` in mongod's result type; undefined when a long result overflows. */
export function addNumbers(a: NumericOperand, b: NumericOperand): NumericOperand | undefined {
  return combine(a, b, addScaled, (x, y) => x + y, (x, y) => x + y);
}

/** `a * b` in mongod's result type; undefined when a long result overflows. */
export function multiplyNumbers(a: NumericOperand, b: NumericOperand): NumericOperand | undefined {
  return combine(a, b, multiplyScaled, (x, y) => x * y, (x, y) => x * y);
}

/** The zero of the operand's type, for $inc/$mul on a missing field. */
export function zeroLike(operand: NumericOperand): NumericOperand {
  if (isDecimal(operand)) return Decimal128.fromString('0');
  if (isLong(operand)) return Long.fromNumber(0);
  return 0;
}
