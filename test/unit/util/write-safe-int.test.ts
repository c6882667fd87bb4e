import { describe, expect, it } from 'vitest';
import { writeSafeInt } from '../../../src/util/write-safe-int.js';
import { prng } from '../../helpers/prng.js';

describe('writeSafeInt', () => {
  it('writes what String(n) gives for safe integers, at the offset, and returns the end', () => {
    const rnd = prng(7);
    const edges = [0, 1, 9, 10, 99, 100, -1, -9, -10, 65535, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -0];
    const random = Array.from({ length: 2000 }, () => Math.trunc((rnd() - 0.5) * 2 * 10 ** Math.floor(rnd() * 16)));
    for (const n of [...edges, ...random]) {
      const buf = Buffer.alloc(24, 0x2e);
      const end = writeSafeInt(buf, 3, n);
      expect(buf.subarray(3, end).toString('latin1')).toBe(String(n));
      expect(buf.subarray(0, 3).toString('latin1')).toBe('...');
      expect(buf[end]).toBe(0x2e);
    }
  });
});
