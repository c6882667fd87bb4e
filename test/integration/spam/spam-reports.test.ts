import { afterEach, describe, expect, it } from 'vitest';
import { apiGet, apiPostForm, startApi, type ApiFixture } from '../../helpers/api-fixture.js';

const SEED_HASH = '40fc37113954486db58449f00ccfa1ae40739e93';
/** The seed's own report link, path and query as written (its line breaks are dropped by browsers, as in an href). */
const SEED_LINK =
  'index.php?op=createItem&Torrent=[Eclipse] Claymore - 17 (XviD) [40AFE84B].avi&Category=Anime&Hash=40fc37113954486db58449f00ccfa1ae40739e93&Creator=Anonymous&Submit=1';

let api: ApiFixture | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const KEYS = [
  { name: 'mininova', key: 'mininova-key-0123456789', methods: ['spamReport' as const] },
  { name: 'reader', key: 'reader-key-0123456789ab', methods: ['peers' as const] },
];

describe('reports', () => {
  it('the seed\'s GET link works unchanged against the daemon in open mode', async () => {
    api = await startApi({ spam: { openReports: true } });
    const res = await fetch(`${api.url}/${SEED_LINK}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`counted: [Eclipse] Claymore - 17 (XviD) [40AFE84B].avi --- ${SEED_HASH} --- 1\n`);
    const e = api.spamRepo.byHash(SEED_HASH);
    expect(e).toMatchObject({ name: '[Eclipse] Claymore - 17 (XviD) [40AFE84B].avi', category: 'Anime', count: 1 });
    // The same anonymous reporter (same address) counts once.
    const again = await fetch(`${api.url}/${SEED_LINK}`);
    expect(await again.text()).toMatch(/^already counted: .* --- 1\n$/);
    expect(api.spamRepo.reportsOf(SEED_HASH)).toHaveLength(1);
  });

  it('needs an API key with the spamReport permission unless open mode is on', async () => {
    api = await startApi({ apiKeys: KEYS });
    expect((await fetch(`${api.url}/${SEED_LINK}`)).status).toBe(401);
    const wrong = await apiGet(api.url, '/index.php', { op: 'createItem', Hash: SEED_HASH, key: 'reader-key-0123456789ab' });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({ error: 'ACCESS_FORBIDDEN' });
    const ok = await fetch(`${api.url}/${SEED_LINK}&key=mininova-key-0123456789`);
    expect(ok.status).toBe(200);
    expect(api.spamRepo.reportsOf(SEED_HASH)[0]).toMatchObject({ site: 'mininova', creator: 'Anonymous' });
  });

  it('counts each reporter once per torrent: named creators by name (any case), anonymous ones by address', async () => {
    api = await startApi({ apiKeys: KEYS });
    const report = (creator: string, hash = SEED_HASH): Promise<unknown> =>
      apiPostForm(api!.url, '/index.php', { op: 'createItem', Torrent: 'x', Hash: hash, Creator: creator, key: 'mininova-key-0123456789' });
    await report('alice');
    await report('ALICE');
    await report('bob');
    await report('Anonymous');
    await report('');
    expect(api.spamRepo.byHash(SEED_HASH)?.count).toBe(3);
    await report('alice', 'a'.repeat(40));
    expect(api.spamRepo.byHash('a'.repeat(40))?.count).toBe(1);
  });

  it('reports by POST form too; a bad hash or an oversized name is a 400', async () => {
    api = await startApi({ spam: { openReports: true } });
    const ok = await apiPostForm(api.url, '/index.php', { op: 'createItem', Torrent: 'Film', Category: 'Movies', Hash: SEED_HASH.toUpperCase(), Creator: 'carol', Submit: '1' });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe(`counted: Film --- ${SEED_HASH} --- 1\n`);
    const bad = await apiPostForm(api.url, '/index.php', { op: 'createItem', Hash: 'xyz' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'INVALID_INFOHASH' });
    const long = await apiPostForm(api.url, '/index.php', { op: 'createItem', Hash: SEED_HASH, Torrent: 'n'.repeat(1025) });
    expect(long.status).toBe(400);
    const unknown = await apiGet(api.url, '/index.php', { op: 'deleteEverything' });
    expect(unknown.status).toBe(400);
  });

  it('limits reports per reporter and per address (429 with Retry-After)', async () => {
    api = await startApi({ spam: { openReports: true, rateLimit: { perReporter: { points: 3, durationSeconds: 600 }, perIp: { points: 5, durationSeconds: 600 } } } });
    const report = (creator: string, i: number) =>
      apiGet(api!.url, '/index.php', { op: 'createItem', Hash: i.toString(16).padStart(40, '0'), Creator: creator });
    for (let i = 0; i < 3; i++) expect((await report('dave', i)).status).toBe(200);
    const limited = await report('dave', 3);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'RATE_LIMITED' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another reporter from the same address: the per-address limit (5) is reached after 1 more.
    expect((await report('erin', 10)).status).toBe(200);
    expect((await report('erin', 11)).status).toBe(429);
    expect(api.spam.service.stats).toMatchObject({ counted: 4, rateLimited: 2 });
  });
});
