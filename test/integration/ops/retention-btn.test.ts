import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Retention } from '../../../src/ops/retention.js';
import { openBtnStore } from '../../../src/store/btn-store.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { RetentionWorker } from '../../../src/store/retention-worker.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import type { BanRow, HistoryRow, SwarmRow } from '../../../src/btn/ports.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);
const TID = 'ab'.repeat(32);
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const swarmRow = (i: number, at: number): SwarmRow => ({
  downloader: 'qb', torrentIdentifier: TID, torrentSize: 1, torrentPrivate: false, peerIp: `1.2.3.${i}`, peerPort: 6881, peerId: null,
  peerClientName: null, peerProgress: 1, downloaderProgress: 0.5, fromPeerTraffic: 1, fromPeerTrafficOffset: 0, fromPeerSpeed: 0,
  fromPeerSpeedMax: 0, toPeerTraffic: 1, toPeerTrafficOffset: 0, toPeerSpeed: 0, toPeerSpeedMax: 0, flags: '', firstSeen: at - 1000, lastSeen: at,
});
const banRow = (i: number, at: number): BanRow => ({
  banAt: at, peerIp: `5.6.7.${i}`, peerPort: 1, peerId: null, peerClientName: null, peerProgress: 0, peerFlag: null, torrentIdentifier: TID,
  torrentSize: 1, torrentPrivate: false, fromPeerTraffic: 0, toPeerTraffic: 1, downloaderProgress: 0, module: 'm', rule: 'r', description: '',
  structuredData: '{}', btnBan: false, banUniqueId: null,
});
const historyRow = (i: number, at: number): HistoryRow => ({
  torrentIdentifier: TID, torrentSize: 1, peerIp: `9.9.9.${i}`, peerId: 'p', peerClientName: 'c', downloaded: 1, downloadedOffset: 0,
  uploaded: 1, uploadedOffset: 0, firstSeen: at - 1000, lastSeen: at, peerFlag: null,
});

describe('retention of BTN submissions (real SQLite, the daemon\'s registration)', () => {
  it.each(['event loop', 'retention thread'])('deletes swarm rows, histories, bans and heartbeats past retention.maxAgeDays.btnSubmissions, keeps btn_counts exact (on the %s)', async (where) => {
    const t = tempDir('cd-retention-btn-');
    const db = openDatabase(path.join(t.dir, 'capture.db'));
    cleanups.push(t.cleanup, () => db.close());
    const btn = openBtnStore(db);
    const app = btn.apps.create({ appId: 'a', secretSha256: Buffer.alloc(32), comment: '', owner: null }).ref;
    // Received 100 days ago (swarm, histories: received_at = the batch's time; bans: ban_at).
    const old = NOW - 100 * DAY;
    const fresh = NOW - 10 * DAY;
    btn.submissions.putSwarm(app, 's1', Array.from({ length: 7 }, (_, i) => swarmRow(i, old)), old);
    btn.submissions.putSwarm(app, 's2', Array.from({ length: 3 }, (_, i) => swarmRow(100 + i, fresh)), fresh);
    btn.submissions.putBans(app, 'b1', Array.from({ length: 5 }, (_, i) => banRow(i, old)), old);
    btn.submissions.putBans(app, 'b2', Array.from({ length: 2 }, (_, i) => banRow(100 + i, fresh)), fresh);
    btn.submissions.putHistories(app, Array.from({ length: 4 }, (_, i) => historyRow(i, old)), old);
    btn.submissions.putHistories(app, [historyRow(100, fresh)], fresh);
    btn.submissions.putHeartbeat(app, '10.0.0.1', '8.8.8.8', old);
    btn.submissions.putHeartbeat(app, '10.0.0.2', '8.8.8.8', fresh);
    // A resent old swarm row with newer data is fresh again.
    btn.submissions.putSwarm(app, 's3', [swarmRow(0, fresh)], fresh);

    const ops = new SqliteOpsRepository(db);
    const onThread = where === 'retention thread';
    const steps = new RetentionWorker({ db, local: ops, logger: silentLogger() }, { thread: onThread, walMaxBytes: 64 * 2 ** 20 });
    cleanups.push(() => steps.close());
    const retention = new Retention(
      { store: ops, logger: silentLogger(), now: () => NOW, steps },
      { enabled: true, intervalMs: 60_000, maxAgeDays: { btnSubmissions: 90 }, maxDatabaseBytes: 0, batchSize: 4, maxBatchMs: 50, pauseMs: 0, vacuumPagesPerStep: 64, pcapDir: t.dir },
    );
    // As the daemon registers it (roles/api-side.ts): on the thread, this the fallback.
    retention.register({ name: 'btnSubmissions', deleteOlderThan: (before, limit) => btn.submissions.deleteOlderThan(before, limit), onThread: true });
    const run = await retention.runOnce();
    expect(run.stepsOnThread).toBe(onThread ? run.batches : 0);
    expect(steps.status().threadFailures).toBe(0);

    expect(run.deleted.btnSubmissions).toBe(6 + 5 + 4 + 1);
    const ips = (table: string): string[] => db.prepare(`SELECT peer_ip FROM ${table} ORDER BY peer_ip`).pluck().all() as string[];
    expect(ips('btn_swarm')).toEqual(['1.2.3.0', '1.2.3.100', '1.2.3.101', '1.2.3.102']);
    expect(ips('btn_bans')).toEqual(['5.6.7.100', '5.6.7.101']);
    expect(ips('btn_histories')).toEqual(['9.9.9.100']);
    expect(db.prepare('SELECT ifaddr FROM btn_heartbeats').pluck().all()).toEqual(['10.0.0.2']);
    // The query API's unfiltered totals come from btn_counts: still exact.
    const counts = Object.fromEntries(db.prepare('SELECT name, n FROM btn_counts').raw().all() as Array<[string, number]>);
    expect(counts).toEqual({ swarm: 4, bans: 2 });
    expect(btn.queries.snapshots({ page: 0, pageSize: 10, conditions: [], or: false, sortBy: [], sortOrder: 'DESC' }).total).toBe(4);
    expect((await retention.runOnce()).deleted.btnSubmissions).toBeUndefined();
    // The deletes walk the age indexes, not the tables.
    const plan = (sql: string): string => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; ');
    expect(plan('SELECT id FROM btn_swarm WHERE received_at < 1 ORDER BY received_at LIMIT 5')).toContain('btn_swarm_by_received');
    expect(plan('SELECT id FROM btn_histories WHERE received_at < 1 ORDER BY received_at LIMIT 5')).toContain('btn_histories_by_received');
  });
});
