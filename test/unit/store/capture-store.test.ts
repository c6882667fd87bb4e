import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { checkListings, IH, randomCaptures, T0 } from '../../helpers/capture-samples.js';
import { storeBackends, type OpenedBackend } from '../../helpers/store-backends.js';

// The capture repository's contract, on SQLite and on PostgreSQL (each run in a fresh schema).
describe.each(storeBackends)('capture store on $name', (backend) => {
  let opened: OpenedBackend | undefined;
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });
  async function open(): Promise<OpenedBackend> {
    opened = await backend.open();
    return opened;
  }

  it('stores every field, in batches of any size', async () => {
    const { captures: repo, scalar } = await open();
    const all: NewCapture[] = [];
    const ids: number[] = [];
    let seed = 1;
    for (const size of [1, 63, 64, 65, 129, 1000]) {
      const batch = randomCaptures(size, seed++, T0 + seed, { notify: backend.hasOutbox });
      const got = await repo.insertMany(batch, 1234);
      expect(got).toHaveLength(size);
      // Consecutive, in batch order, after everything stored before (one writer).
      expect(got).toEqual(Array.from({ length: size }, (_, i) => ids.length + 1 + i));
      all.push(...batch);
      ids.push(...got);
    }
    for (const [i, c] of all.entries()) {
      const id = ids[i] as number;
      const { filters, notify, ...record } = c;
      void notify;
      expect(await repo.get(id)).toStrictEqual({ id, ...record });
      expect(await repo.filtersOf(id)).toEqual(['a', 'b', 'c'].filter((f) => filters.includes(f)));
    }
    if (backend.hasOutbox) {
      expect(await scalar('SELECT count(*) FROM outbox')).toBe(all.filter((c) => c.notify).length);
    }
    await checkListings(repo, all, ids, 40);
    expect(await scalar('SELECT count(*) FROM captures WHERE found_at >= 0')).toBe(all.length);
    expect(await repo.get(999_999)).toBeUndefined();
    expect(await repo.filtersOf(999_999)).toEqual([]);
  });

  it('lists a capture once per distinct filter, also with many filters or a name given twice', async () => {
    const { captures: repo, scalar } = await open();
    const many = Array.from({ length: 150 }, (_, i) => `f${i}`);
    const [id1, id2] = (await repo.insertMany([
      { foundAt: 5, ip: '192.0.2.1', port: 1, infohash: IH, error: 'x', filters: many },
      { foundAt: 6, ip: '192.0.2.2', port: 2, infohash: IH, error: 'y', filters: ['a', 'a', 'b', 'a'] },
    ])) as [number, number];
    expect(await repo.filtersOf(id1)).toEqual(many);
    expect(await repo.filtersOf(id2)).toEqual(['a', 'b']);
    expect(await scalar('SELECT count(*) FROM capture_filters')).toBe(152);
    expect((await repo.page({ filter: 'f149', from: 0, to: 10, pageSize: 10 })).peers.map((r) => r[0])).toEqual([id1]);
    expect(await repo.isListedUnder(id2, 'b')).toBe(true);
    expect(await repo.isListedUnder(id2, 'f3')).toBe(false);
    expect(await repo.isListedUnder(id2, 'no-such-filter')).toBe(false);
    expect((await repo.page({ filter: 'no-such-filter', from: 0, to: 10, pageSize: 10 })).peers).toEqual([]);
  });

  it('stores nothing of a batch that fails part-way, and the next batch goes on', async () => {
    const { captures: repo, scalar } = await open();
    await repo.insertMany(randomCaptures(10, 3, T0, { notify: false }));
    const batch = randomCaptures(200, 4, T0, { notify: false });
    // The 200th capture has no address: NOT NULL fails after the others were written.
    batch[199] = { ...(batch[199] as NewCapture), ip: null as unknown as string };
    batch[150] = { ...(batch[150] as NewCapture), filters: ['brand-new'] };
    await expect(async () => repo.insertMany(batch)).rejects.toThrow(/null/i);
    expect(await scalar('SELECT count(*) FROM captures')).toBe(10);
    // SQLite made the name inside the rolled-back transaction: gone, and forgotten by the cache.
    // PostgreSQL makes names outside the batch's transaction (no lock held by a batch): it may stay.
    if (!backend.idsHaveGaps) expect(await scalar("SELECT count(*) FROM filter_names WHERE name = 'brand-new'")).toBe(0);
    expect(await scalar('SELECT count(*) FROM capture_filters WHERE capture_id > 10')).toBe(0);
    const [id] = await repo.insertMany([{ ...(batch[0] as NewCapture), filters: ['brand-new'] }]);
    if (backend.idsHaveGaps) expect(id).toBeGreaterThan(10);
    else expect(id).toBe(11);
    expect(await repo.filtersOf(id as number)).toEqual(['brand-new']);
    expect(await repo.insertMany([])).toEqual([]);
  });

  it('merges success and failure in id order inside an oversized millisecond', async () => {
    const { captures: repo } = await open();
    const batch: NewCapture[] = Array.from({ length: 150 }, (_, i) =>
      i % 3 === 0
        ? { foundAt: 1000, ip: '192.0.2.1', port: i + 1, infohash: IH, filters: ['a'], report: { date: 1001, totalPiecesInTorrent: 1, hasPieces: 1, hasTotal: true, clientName: 'c', hostIdentifier: '' } }
        : { foundAt: 1000, ip: '192.0.2.1', port: i + 1, infohash: IH, filters: ['a'], error: 'e' },
    );
    batch.push({ foundAt: 1002, ip: '192.0.2.9', port: 9, infohash: IH, filters: ['a'], error: 'later' });
    const ids = await repo.insertMany(batch);
    const page = await repo.page({ filter: 'a', from: 0, to: 5000, pageSize: 100 });
    expect(page.peers.map((r) => r[0])).toEqual(ids.slice(0, 150));
    expect(page).toMatchObject({ from: 0, to: 1001, hasMore: true });
    const rest = await repo.page({ filter: 'a', from: 1001, to: 5000, pageSize: 100 });
    expect(rest.peers.map((r) => r[0])).toEqual([ids[150]]);
    expect(rest).toMatchObject({ to: 5000, hasMore: false });
    const ok = await repo.page({ filter: 'a', from: 0, to: 5000, success: true, pageSize: 10 });
    expect(ok.peers.map((r) => r[0])).toEqual(ids.slice(0, 150).filter((_, i) => i % 3 === 0));
    expect(ok).toMatchObject({ to: 5000, hasMore: false });
    // The oversized millisecond is the last one before `to`: no more pages.
    const last = await repo.page({ filter: 'a', from: 0, to: 1001, pageSize: 100 });
    expect(last).toMatchObject({ to: 1001, hasMore: false });
    expect(last.peers).toHaveLength(150);
  });

  it('counts captures per minute since a time', async () => {
    const { captures: repo } = await open();
    const at = (ms: number): NewCapture => ({ foundAt: ms, ip: '192.0.2.1', port: 1, infohash: IH, filters: ['a'], error: 'e' });
    await repo.insertMany([at(60_000 * 10), at(60_000 * 10 + 59_999), at(60_000 * 11), at(60_000 * 9)]);
    const counts = await repo.countPerMinuteSince(60_000 * 10);
    expect([...counts].sort((x, y) => x[0] - y[0])).toEqual([
      [10, 2],
      [11, 1],
    ]);
  });
});
