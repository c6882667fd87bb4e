import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../../src/store/migrations.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { tempDir } from '../../helpers/temp-dir.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

describe('BTN migrations', () => {
  it('the btn_swarm re-key migration, keeps its rows and ids, and torrent lookups use the key', () => {
    const t = tempDir('btn-mig-');
    cleanups.push(t.cleanup);
    const db = openDatabase(path.join(t.dir, 'x.db'), { migrate: false });
    const v8 = MIGRATIONS.findIndex((m) => m.includes('btn_swarm_v2')) + 1;
    expect(v8).toBeGreaterThan(4);
    for (let v = 0; v < v8 - 1; v++) {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }
    const insert = db.prepare(`INSERT INTO btn_swarm (app, submit_id, downloader, torrent, peer_ip, peer_port, peer_progress, downloader_progress,
      from_peer_traffic, from_peer_traffic_offset, from_peer_speed, from_peer_speed_max, to_peer_traffic, to_peer_traffic_offset,
      to_peer_speed, to_peer_speed_max, flags, first_seen, last_seen, received_at) VALUES (1, 's', 'd', ?, ?, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, '', 1, 2, 3)`);
    for (let i = 0; i < 50; i++) insert.run(i % 5, `8.8.8.${i}`);
    const before = db.prepare('SELECT * FROM btn_swarm ORDER BY id').all();
    migrate(db);
    expect(db.prepare('SELECT * FROM btn_swarm ORDER BY id').all()).toEqual(before);
    expect(() => insert.run(0, '8.8.8.0')).toThrow(/UNIQUE/);
    const plan = (db.prepare('EXPLAIN QUERY PLAN SELECT id FROM btn_swarm WHERE torrent = ? ORDER BY last_seen DESC').all(1) as Array<{ detail: string }>).map((r) => r.detail).join('\n');
    expect(plan).toMatch(/USING INDEX sqlite_autoindex_btn_swarm/);
    const byIp = (db.prepare('EXPLAIN QUERY PLAN SELECT id FROM btn_swarm WHERE peer_ip = ?').all('x') as Array<{ detail: string }>).map((r) => r.detail).join('\n');
    expect(byIp).toMatch(/btn_swarm_by_ip/);
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'btn_swarm_by_torrent'").pluck().get()).toBe(0);
    db.close();
  });
});
