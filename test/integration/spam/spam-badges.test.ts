import { afterEach, describe, expect, it } from 'vitest';
import { BADGE_DIMENSIONS } from '../../../src/spam/badge.js';
import { apiGet, startApi, type ApiFixture } from '../../helpers/api-fixture.js';

let api: ApiFixture | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const HASH = 'c'.repeat(40);

describe('badges', () => {
  it('small, medium and large SVGs state the count or "no reports", found by name or hash', async () => {
    api = await startApi({ spam: { listThreshold: 1 } });
    for (const r of ['a', 'b']) {
      api.spamRepo.report({ infohash: HASH, name: 'Fake Film 1080p', category: '', reporter: r, site: 's', creator: r, weight: 1, at: 1 });
    }
    for (const size of ['small', 'medium', 'large'] as const) {
      const res = await apiGet(api.url, '/index.php', { op: 'badge', size, Torrent: 'fake film 1080P' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
      const { width, height } = BADGE_DIMENSIONS[size];
      expect(res.text).toContain(`width="${width}" height="${height}"`);
      expect(res.text).toContain('2 reports');
      const none = await apiGet(api.url, '/index.php', { op: 'badge', size, Hash: 'd'.repeat(40) });
      expect(none.text).toContain('no reports');
      expect(none.text).not.toContain('2 reports');
    }
    expect((await apiGet(api.url, '/index.php', { op: 'badge', Hash: HASH })).text).toContain('width="90"'); // small by default
    expect((await apiGet(api.url, '/index.php', { op: 'badge', size: 'huge', Hash: HASH })).status).toBe(400);
  });

  it('are cacheable: an ETag, and 304 for If-None-Match until the count changes', async () => {
    api = await startApi();
    const url = `${api.url}/index.php?op=badge&size=medium&Hash=${HASH}`;
    const first = await fetch(url);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(first.headers.get('cache-control')).toBe('public, max-age=300');
    const cached = await fetch(url, { headers: { 'if-none-match': etag as string } });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe('');
    expect((await fetch(url, { headers: { 'if-none-match': `"other", W/${etag}` } })).status).toBe(304);
    api.spamRepo.report({ infohash: HASH, name: 'n', category: '', reporter: 'r', site: 's', creator: 'r', weight: 1, at: 1 });
    const changed = await fetch(url, { headers: { 'if-none-match': etag as string } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(await changed.text()).toContain('1 report<');
  });
});
