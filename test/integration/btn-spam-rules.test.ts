import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { torrentIdentifier } from '../../src/btn/torrent-identifier.js';
import { configSchema, type SpamConfig } from '../../src/config/config-schema.js';
import { spamRuleSource } from '../../src/daemon/spam-rule-source.js';
import { SpamService } from '../../src/spam/spam-service.js';
import { SqliteSpamRepository } from '../../src/store/spam-repository.js';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { swarm } from '../helpers/btn-rows.js';
import { gson, pbhHeaders, pbhRequest } from '../helpers/pbh-client.js';

// The spam list as a source of BTN rules: peers sharing a listed torrent (seen by the daemon's own
// captures or in BTN clients' swarm submissions) reach ip_denylist with the torrent and its evidence
// as the reason, visible in GET /api/rules; through the daemon's real adapter and spam service.

const SPAM = 'c0ffee0000000000000000000000000000000001';
const LOW = 'c0ffee0000000000000000000000000000000002';
const ADMIN = 'admin-token-0123456789abcdef';
let f: BtnFixture;
let spamConfig: SpamConfig = configSchema.parse({ spam: { enabled: true, listThreshold: 1 } }).spam;
let repo: SqliteSpamRepository;
let h: Record<string, string>;

beforeAll(async () => {
  f = await startBtn(
    { users: [{ name: 'admin', token: ADMIN, role: 'admin' }], rules: { ipAllowlist: [{ ip: '198.51.100.7', reason: 'operator: our seedbox' }] } },
    {
      spam: (db) => {
        repo = new SqliteSpamRepository(db);
        const service = new SpamService(repo, () => spamConfig);
        return spamRuleSource((q) => service.list(q), () => spamConfig);
      },
    },
  );
  const a = f.createApp('swarms');
  h = pbhHeaders(a.appId, a.appSecret);
  const at = Math.floor(Date.now() / 1000);
  const base = { category: 'Movies', site: 'evidence', creator: '', weight: 1, at };
  // Listed (count 2 > threshold 1), one report by the daemon's evidence rule with its words.
  repo.report({ ...base, infohash: SPAM, name: 'Big Movie 2160p', reporter: 'a', reason: { code: 'disguised-executable', detail: 'Big.Movie.mkv.exe is a Windows program' } });
  repo.report({ ...base, infohash: SPAM, name: 'Big Movie 2160p', reporter: 'b' });
  // Reported once: not above the threshold, not listed.
  repo.report({ ...base, infohash: LOW, name: 'Something', reporter: 'a' });

  const now = Date.now();
  const report = (has: number) => ({ date: now, totalPiecesInTorrent: 10, hasPieces: has, hasTotal: true, clientName: 'x', hostIdentifier: '' });
  f.captures.insertMany(
    [
      { foundAt: now, ip: '9.9.9.1', port: 6881, infohash: SPAM, filters: ['x'], report: report(10) }, // seeder: listed
      { foundAt: now, ip: '9.9.9.2', port: 6881, infohash: SPAM, filters: ['x'], report: report(3) }, // leecher: a victim
      { foundAt: now, ip: '9.9.9.3', port: 6881, infohash: SPAM, filters: ['x'], error: 'connection refused' },
      { foundAt: now, ip: '198.51.100.7', port: 6881, infohash: SPAM, filters: ['x'], report: report(10) }, // allowlisted
      { foundAt: now, ip: '9.9.9.4', port: 6881, infohash: LOW, filters: ['x'], report: report(10) }, // not listed
    ],
    1,
  );
  const tid = torrentIdentifier(SPAM);
  const swarms = [
    swarm(1, now, { torrent_identifier: tid, peer_ip: '8.8.4.1', peer_progress: 1 }),
    swarm(2, now, { torrent_identifier: tid, peer_ip: '8.8.4.2', peer_progress: 0.4 }),
    swarm(3, now, { torrent_identifier: tid, peer_ip: '9.9.9.1', peer_progress: 1 }), // already listed from a capture
  ];
  const r = await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: h, body: gson({ swarms }) });
  expect(r.status).toBe(200);
});
afterAll(async () => {
  await f.close();
});

const denylist = async (): Promise<string> => (await pbhRequest(`${f.url}/ping/ruleIpDenylist?rev=initial`, { headers: h })).text;

async function rules(): Promise<Array<{ ip: string; reason: string; source: string }>> {
  const r = await fetch(`${f.url}/api/rules`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await r.json()) as { data: { ipDenylist: Array<{ ip: string; reason: string; source: string }> } }).data.ipDenylist;
}

describe('the spam list as a rule source', () => {
  it('lists seeders of a listed torrent from captures and BTN swarms, each once, with the torrent and its evidence as reason', async () => {
    const spam = (await rules()).filter((e) => e.source === 'spam');
    expect(spam.map((e) => e.ip).sort()).toEqual(['8.8.4.1', '9.9.9.1']);
    const captured = spam.find((e) => e.ip === '9.9.9.1');
    expect(captured?.reason).toBe(
      `shares spam-listed torrent ${SPAM} "Big Movie 2160p" (disguised-executable: Big.Movie.mkv.exe is a Windows program); captured by this daemon`,
    );
    expect(spam.find((e) => e.ip === '8.8.4.1')?.reason).toMatch(/^shares spam-listed torrent c0ffee0+1 .*; seen in BTN clients' swarms$/);
    const text = await denylist();
    expect(text).toContain(`# ${captured?.reason}\n9.9.9.1\n`);
    for (const absent of ['9.9.9.2', '9.9.9.3', '9.9.9.4', '8.8.4.2', '198.51.100.7']) expect(text).not.toContain(`\n${absent}\n`);
  });

  it('follows the config: minProgress, the per-source switch and the spam list being off', async () => {
    f.setConfig({ ...f.config(), rules: { ...f.config().rules, spam: { ...f.config().rules.spam, minProgress: 0.3 } } });
    expect((await rules()).filter((e) => e.source === 'spam').map((e) => e.ip).sort()).toEqual(['8.8.4.1', '8.8.4.2', '9.9.9.1', '9.9.9.2']);
    f.setConfig({ ...f.config(), rules: { ...f.config().rules, spam: { ...f.config().rules.spam, maxEntries: 1 } } });
    expect((await rules()).filter((e) => e.source === 'spam')).toHaveLength(1);
    f.setConfig({ ...f.config(), rules: { ...f.config().rules, spam: { ...f.config().rules.spam, enabled: false } } });
    expect((await rules()).filter((e) => e.source === 'spam')).toEqual([]);
    f.setConfig({ ...f.config(), rules: { ...f.config().rules, spam: { ...f.config().rules.spam, enabled: true, maxEntries: 100 } } });
    expect((await rules()).filter((e) => e.source === 'spam').length).toBeGreaterThan(0);
    spamConfig = { ...spamConfig, enabled: false };
    expect((await rules()).filter((e) => e.source === 'spam')).toEqual([]);
    expect(await denylist()).not.toContain('9.9.9.1');
    spamConfig = { ...spamConfig, enabled: true, listThreshold: 5 };
    expect((await rules()).filter((e) => e.source === 'spam')).toEqual([]);
  });
});
