/**
 * Writes a safe integer's decimal digits (with a '-' when negative) into `buf` at `off`, as
 * String(n) would, and returns the offset after them. The caller makes room for 17 bytes (the
 * longest safe integer with its sign) and handles numbers that are not safe integers.
 */
export function writeSafeInt(buf: Buffer, off: number, n: number): number {
  if (n < 0) {
    buf[off++] = 45; // '-'
    n = -n;
  }
  // Digits right to left into their final place.
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  let p = off + digits - 1;
  do {
    const q = Math.floor(n / 10);
    buf[p--] = 48 + (n - q * 10);
    n = q;
  } while (n > 0);
  return off + digits;
}
