import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { normalizeIp } from '../../../src/btn/normalize.js';
import { prng } from '../../helpers/prng.js';

describe('normalizeIp: the IPv4 fast path agrees with ipaddr.js', () => {
  it('on 200,000 addresses weighted towards the special ranges', () => {
    const rnd = prng(7);
    const byte = (): number => Math.floor(rnd() * 256);
    const firsts = [10, 100, 169, 172, 192, 198, 203, 0, 127, 224, 240, 255, 1, 8, 99, 101];
    const seconds = [0, 88, 51, 18, 19, 20, 254, 168, 64, 63, 127, 128, 16, 15, 31, 32, 175, 52];
    const thirds = [0, 1, 2, 3, 99, 100, 113, 114, 48, 196, 193];
    const mismatches: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const a = rnd() < 0.7 ? (firsts[Math.floor(rnd() * firsts.length)] as number) : byte();
      const b = rnd() < 0.6 ? (seconds[Math.floor(rnd() * seconds.length)] as number) : byte();
      const c = rnd() < 0.5 ? (thirds[Math.floor(rnd() * thirds.length)] as number) : byte();
      const s = `${a}.${b}.${c}.${byte()}`;
      const addr = ipaddr.parse(s);
      const want = addr.range() === 'unicast' ? addr.toString() : 'ip_not_public';
      const got = normalizeIp(s);
      if ((typeof got === 'string' ? got : got.reason) !== want) mismatches.push(`${s}: ${want}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
  });

  it('refuses octets over 255 and non-quad forms', () => {
    for (const s of ['256.1.1.1', '1.2.3', '01.2.3.4x', '0x8.8.8.8']) {
      const r = normalizeIp(s);
      expect(typeof r === 'string' ? r : r.reason, s).toBe('bad_ip');
    }
  });
});
