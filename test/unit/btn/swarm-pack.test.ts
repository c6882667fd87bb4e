import { describe, expect, it } from 'vitest';
import type { SwarmRow } from '../../../src/btn/ports.js';
import { packSwarm, unpackSwarm } from '../../../src/btn/swarm-pack.js';

const row = (i: number, over: Partial<SwarmRow> = {}): SwarmRow => ({
  downloader: 'qBittorrent-main',
  torrentIdentifier: 'a'.repeat(64),
  torrentSize: 702_869_834,
  torrentPrivate: false,
  peerIp: `1.2.3.${i}`,
  peerPort: 6881,
  peerId: '-qB4650-abcdefghijkl',
  peerClientName: 'qBittorrent/4.6.5',
  peerProgress: 0.25,
  downloaderProgress: 1,
  fromPeerTraffic: 2 ** 53 - 1,
  fromPeerTrafficOffset: 0,
  fromPeerSpeed: 10,
  fromPeerSpeedMax: 20,
  toPeerTraffic: 1000 + i,
  toPeerTrafficOffset: -5,
  toPeerSpeed: 30,
  toPeerSpeedMax: 40,
  flags: 'D ? I E',
  firstSeen: 1_733_000_000_000,
  lastSeen: 1_733_000_060_000,
  ...over,
});

describe('packSwarm / unpackSwarm (swarm rows posted to the BTN write thread)', () => {
  it('gives back every field as it was: nulls, empty strings, booleans, fractions, the largest safe integers', () => {
    const rows = [
      row(1),
      row(2, { peerId: null, peerClientName: null, torrentPrivate: true, downloader: '', flags: '' }),
      row(3, { peerIp: '2001:4860::8888', peerProgress: 1 / 3, torrentSize: 0, peerClientName: 'Überclient \u{1F600}' }),
    ];
    const packed = packSwarm(rows);
    expect(unpackSwarm(structuredClone(packed))).toEqual(rows);
    expect(unpackSwarm(packSwarm([]))).toEqual([]);
  });

  it('keeps each distinct string once', () => {
    const packed = packSwarm(Array.from({ length: 100 }, (_, i) => row(i % 10)));
    // 10 IPs + downloader, torrent, peer id, client name, flags
    expect(packed.strings).toHaveLength(15);
  });
});
