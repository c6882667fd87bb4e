import { describe, expect, it } from 'vitest';
import { rowToPeerJson } from '../../../src/api-shape/peer-json.js';
import { peerPageJson } from '../../../src/api-shape/peer-page-json.js';
import type { CaptureRow, PeerPage } from '../../../src/store/capture-repository.js';
import { prng } from '../../helpers/prng.js';

/** What the route sent before: the objects of rowToPeerJson, JSON.stringify, UTF-8. */
const reference = (page: PeerPage): Buffer =>
  Buffer.from(JSON.stringify({ from: page.from, to: page.to, hasMore: page.hasMore, peers: page.peers.map(rowToPeerJson) }), 'utf8');

/** Strings that need JSON escaping or multi-byte UTF-8, or look like they might. */
const NASTY = [
  '',
  'plain',
  'qBittorrent 4.6.2',
  'quote " inside',
  'back\\slash',
  'tab\there',
  'new\nline\r\n',
  '\u0000\u0001\u001f\u007f',
  '\b\f',
  'µTorrent 3.6 — São Paulo',
  'ÿ\u0080\u07ff\u0800\uffff',
  'emoji 🦀 pair',
  'lone \ud800 high',
  'lone \udc00 low',
  'swapped \udc00\ud800',
  'line sep \u2028 para \u2029',
  '</script>',
  '{"json":true}',
  '日本語のホスト名',
  'x'.repeat(300),
  'é'.repeat(2000),
];

const DAY = 86_400_000;
/** Numbers at the edges: 0, negatives, beyond 2^53, fractions (a column could hold any of them). */
const NUMBERS = [0, 1, 9, 10, 99, 100, 65535, -1, -10, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 1.5, -0.25, -0];
/** Times: the fast path's edges, before 1970, fractions, years 0000 and 9999, and beyond. */
const TIMES = [
  0, 1, -1, 999, DAY - 1, DAY, -DAY - 1, 1_529_215_116_123, 1_795_305_599_999, -62_167_219_200_000, -62_167_219_200_001,
  253_402_300_799_999, 253_402_300_800_000, 8.64e15, -8.64e15, 1.5, -0.5,
];

function randomRow(rnd: () => number): CaptureRow {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const maybe = (): string | null => (rnd() < 0.3 ? null : pick(NASTY));
  const num = (): number => (rnd() < 0.2 ? pick(NUMBERS) : Math.floor(rnd() * 1e5));
  const time = (): number => (rnd() < 0.1 ? pick(TIMES) : Math.floor(rnd() * 4e12));
  const report = rnd() < 0.5;
  return [
    rnd() < 0.1 ? pick(NUMBERS) : 1 + Math.floor(rnd() * 1e12),
    time(),
    pick(NASTY),
    num(),
    pick(NASTY),
    maybe(),
    maybe(),
    maybe(),
    report ? time() : null,
    report && rnd() < 0.9 ? num() : null,
    report && rnd() < 0.9 ? num() : null,
    report ? pick([0, 1, null]) : null,
    report ? maybe() : null,
    report ? maybe() : null,
    report ? null : maybe(),
    rnd() < 0.2 ? pick(NASTY) : null,
    report && rnd() < 0.3 ? pick(NASTY) : null,
  ];
}

describe('peerPageJson (the peers page written straight into bytes)', () => {
  it('is byte for byte JSON.stringify of the rowToPeerJson objects, on 1,000 random pages', () => {
    const rnd = prng(17);
    for (let p = 0; p < 1000; p++) {
      const n = p < 10 ? p : Math.floor(rnd() * 40);
      const page: PeerPage = {
        from: p % 7 === 0 ? 0 : Math.floor(rnd() * 4e12),
        to: Math.floor(rnd() * 4e12),
        hasMore: rnd() < 0.5,
        peers: Array.from({ length: n }, () => randomRow(rnd)),
      };
      const got = peerPageJson(page);
      const want = reference(page);
      if (!got.equals(want)) expect(got.toString('utf8')).toBe(want.toString('utf8'));
    }
  });

  it('grows past its first guess of the size (long strings), and pages of 1,000 realistic rows match', () => {
    const long: CaptureRow = [1, 1_529_215_116_123, '203.0.113.9', 6881, 'a'.repeat(40), 'DE', 'ü'.repeat(50_000), null, null, null, null, null, null, null, 'x'.repeat(70_000), '/p', null];
    const page: PeerPage = { from: 1, to: 2, hasMore: false, peers: [long, long] };
    expect(peerPageJson(page).equals(reference(page))).toBe(true);

    const rnd = prng(3);
    const peers: CaptureRow[] = [];
    for (let i = 0; i < 1000; i++) {
      const ok = rnd() < 0.35;
      const t = 1_790_000_000_000 + i * 37;
      peers.push([
        10_000 + i, t, `10.0.${i >> 8}.${i & 255}`, 1024 + i, 'ab'.repeat(20), 'DE', i % 3 === 0 ? null : 'Berlin', 'Deutsche Telekom AG',
        ok ? t + 2500 : null, ok ? 1000 + i : null, ok ? i : null, ok ? i % 2 : null, ok ? 'µTorrent 3.6.0' : null, ok ? '' : null,
        ok ? null : 'connection refused', i % 33 === 0 ? '/var/lib/capture-daemon/pcap/1.pcap' : null, null,
      ]);
    }
    const big: PeerPage = { from: 1_790_000_000_000, to: 1_790_000_037_000, hasMore: true, peers };
    expect(peerPageJson(big).equals(reference(big))).toBe(true);
  });

  it('throws the RangeError rowToPeerJson throws for a time a Date cannot hold', () => {
    const row = randomRow(prng(1));
    row[1] = Number.NaN;
    expect(() => peerPageJson({ from: 0, to: 1, hasMore: false, peers: [row] })).toThrow(RangeError);
  });
});
