import { expect } from 'vitest';
import type { NewCapture } from '../../src/model/capture.js';
import type { PeerPage, PeerPageQuery } from '../../src/store/capture-repository.js';
import { prng } from './prng.js';

export const IH = 'ab'.repeat(20);
export const T0 = 1_700_000_000_000;

/** Random captures over ~400 ms (many sharing a millisecond), 1–3 filters of a/b/c, some with outbox rows. */
export function randomCaptures(n: number, seed: number, t0 = T0, options: { notify?: boolean } = {}): NewCapture[] {
  const rnd = prng(seed);
  const out: NewCapture[] = [];
  for (let i = 0; i < n; i++) {
    const foundAt = t0 + Math.floor(rnd() ** 2 * 400);
    const filters = ['a', 'b', 'c'].filter(() => rnd() < 0.5);
    if (filters.length === 0) filters.push('a');
    const c: NewCapture = { foundAt, ip: `10.0.${i >> 8}.${i & 255}`, port: 1024 + i, infohash: IH, filters };
    if (rnd() < 0.8) c.countryCode = 'DE';
    if (rnd() < 0.5) c.city = 'São Paulo';
    if (rnd() < 0.5) c.isp = 'ISP "quoted" \\ name\twith tab';
    if (rnd() < 0.4) {
      const total = 1 + Math.floor(rnd() * 1000);
      c.report = { date: foundAt + 2500, totalPiecesInTorrent: total, hasPieces: total - (i % 2), hasTotal: i % 2 === 0, clientName: 'µTorrent 3.6', hostIdentifier: i % 3 === 0 ? '' : `host-${i}` };
      if (rnd() < 0.3) c.report.note = 'line one\nline two\r\\N';
    } else {
      c.error = `error ${i % 7}`;
    }
    if (rnd() < 0.05) c.pcapPath = `/var/pcap/${i}.pcap`;
    // Without a draw from rnd (the other fields stay what they were for every seed).
    if (i % 4 !== 3) c.transport = (['tcp', 'tcp+mse', 'utp'] as const)[i % 4] as NewCapture['transport'];
    const notify = rnd() < 0.2;
    if (notify && options.notify !== false) c.notify = [{ filter: filters[0] as string, target: rnd() < 0.5 ? 'amqp' : 'email' }];
    out.push(c);
  }
  return out;
}

export interface Pager {
  page(q: PeerPageQuery): PeerPage | Promise<PeerPage>;
}

/** Every page of `filter` from `from` to `to`, following hasMore. */
export async function follow(repo: Pager, filter: string, success: boolean | undefined, from: number, to: number, pageSize: number): Promise<PeerPage[]> {
  const pages: PeerPage[] = [];
  let cursor = from;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await repo.page({ filter, from: cursor, to, success, pageSize });
    pages.push(page);
    if (!page.hasMore) return pages;
    expect(page.to).toBeGreaterThan(cursor);
    cursor = page.to;
  }
  throw new Error('hasMore never became false');
}

/** [found_at, id] of what `filter` lists in found order, computed from the inputs. */
export function expectedListing(captures: readonly NewCapture[], ids: readonly number[], filter: string, success: boolean | undefined): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  captures.forEach((c, i) => {
    if (!c.filters.includes(filter)) return;
    if (success !== undefined && (c.report !== undefined) !== success) return;
    out.push([c.foundAt, ids[i] as number]);
  });
  return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/** Follows every listing (filters a, b, c; success any/true/false) and compares it with the inputs. */
export async function checkListings(repo: Pager, captures: readonly NewCapture[], ids: readonly number[], pageSize: number, t0 = T0): Promise<void> {
  for (const filter of ['a', 'b', 'c']) {
    for (const success of [undefined, true, false]) {
      const pages = await follow(repo, filter, success, t0 - 1, t0 + 10_000, pageSize);
      const got = pages.flatMap((p) => p.peers.map((r) => [r[1], r[0]] as [number, number]));
      expect(got, `${filter} success=${String(success)}`).toEqual(expectedListing(captures, ids, filter, success));
      // No millisecond is split across pages, and a page only exceeds pageSize for one millisecond.
      for (let i = 1; i < pages.length; i++) {
        const prev = pages[i - 1] as PeerPage;
        const first = (pages[i] as PeerPage).peers[0];
        const last = prev.peers[prev.peers.length - 1];
        if (first && last) expect(first[1]).toBeGreaterThan(last[1]);
      }
      for (const p of pages) if (p.peers.length > pageSize) expect(new Set(p.peers.map((r) => r[1])).size).toBe(1);
    }
  }
}
