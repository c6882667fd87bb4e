import { existsSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerJson } from '../../src/api-shape/peer-json.js';
import { PcapRetention } from '../../src/capture/pcap-retention.js';
import { PcapStore } from '../../src/pcap/pcap-store.js';
import { apiGet, startApi, type ApiFixture } from '../helpers/api-fixture.js';

const KEY = 'key-all-0123456789abcdef';
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 5, 12);
const IH = 'ab'.repeat(20);

const conversation = {
  local: { ip: '127.0.0.1', port: 40000 },
  remote: { ip: '127.0.0.2', port: 6881 },
  events: [
    { kind: 'connect' as const, timeUs: 1 },
    { kind: 'data' as const, dir: 'out' as const, timeUs: 2, data: Uint8Array.of(19, 66) },
  ],
};

let api: ApiFixture | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function setup(ages: number[]) {
  api = await startApi({ apiKeys: [{ name: 'all', key: KEY }], filters: [{ name: 'f', infohashes: [IH], storeTCPDumpFile: true }] });
  const store = new PcapStore({ dir: path.join(api.dir, 'pcap'), retentionDays: 30 });
  const files: string[] = [];
  for (const [i, age] of ages.entries()) {
    const at = NOW - age * DAY;
    const file = await store.write(conversation, { infohash: IH, ip: '127.0.0.2', port: 6881 + i, at });
    utimesSync(file, new Date(at + 5_000), new Date(at + 5_000)); // written seconds after the peer was found
    files.push(file);
  }
  const ids = api.repos.captures.insertMany(
    ages.map((age, i) => ({ foundAt: NOW - age * DAY, ip: '127.0.0.2', port: 6881 + i, infohash: IH, error: 'x', pcapPath: files[i], filters: ['f'] })),
  );
  const retention = (opts: { batch?: number; maxBatches?: number } = {}) => new PcapRetention({ captures: api!.repos.captures, files: store }, { retentionDays: 30, ...opts });
  const links = async (): Promise<Array<string | undefined>> => {
    const res = await apiGet<{ peers: PeerJson[] }>(api!.url, '/capture/peers/all/', { key: KEY, filter: 'f', from: 0, to: NOW + 1 });
    return res.body.peers.map((p) => p.pcap);
  };
  return { files, ids, retention, links };
}

describe('pcap retention: a pruned pcap is no longer linked', () => {
  it('captures past the retention period lose their link, then their files go; newer ones keep both', async () => {
    const { files, ids, retention, links } = await setup([45, 31, 29, 1]);
    expect((await links()).every((l) => l !== undefined)).toBe(true);
    const r = await retention().run(NOW);
    expect(r).toEqual({ unlinked: 2, deleted: 2, complete: true });
    expect(await links()).toEqual([undefined, undefined, `/capture/pcap/?id=${ids[2]}`, `/capture/pcap/?id=${ids[3]}`]);
    expect(files.map((f) => existsSync(f))).toEqual([false, false, true, true]);
    // The download agrees.
    const gone = await apiGet<{ error: string }>(api!.url, '/capture/pcap/', { key: KEY, id: ids[0] as number });
    expect([gone.status, gone.body.error]).toEqual([404, 'PCAP_NOT_FOUND']);
    // A second run has nothing left to do.
    expect(await retention().run(NOW)).toEqual({ unlinked: 0, deleted: 0, complete: true });
  });

  it('unlinks in bounded batches; when the bound stops it, no file is deleted yet (never a link to a deleted file)', async () => {
    const { files, retention, links } = await setup([50, 49, 48, 47, 46, 2]);
    const r = await retention({ batch: 2, maxBatches: 1 }).run(NOW);
    expect(r).toEqual({ unlinked: 2, deleted: 0, complete: false });
    expect(files.every((f) => existsSync(f))).toBe(true);
    const all = await retention({ batch: 2, maxBatches: 10 }).run(NOW);
    expect(all).toEqual({ unlinked: 3, deleted: 5, complete: true });
    expect((await links()).map((l) => l !== undefined)).toEqual([false, false, false, false, false, true]);
  });
});
