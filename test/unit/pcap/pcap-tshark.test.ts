/**
 * tshark must dissect the synthesized captures as BitTorrent over clean TCP: valid IP/TCP
 * checksums (validation switched on), no TCP analysis flags, no expert warnings or errors.
 * Runs against the committed golden files too, so they are known-good. Skipped only when
 * tshark is not installed (CI installs it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Conversation } from '../../../src/pcap/conversation.js';
import { buildPcap } from '../../../src/pcap/pcap-file.js';
import { tempDir } from '../../helpers/temp-dir.js';
import {
  FIXTURE_DIR,
  INFOHASH_HEX,
  LOCAL_PEER_ID,
  PEER_PORT,
  REMOTE_PEER_ID,
  bigConversation,
} from './bt-conversation.js';
import { parsePcap } from './pcap-reader.js';
import { PI_NOTE, TSHARK_PATH, all, tsharkFields, type Row } from './tshark.js';

const hex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

const CLEAN_FIELDS = [
  'frame.number',
  'ip.checksum.status',
  'tcp.checksum.status',
  'tcp.analysis.flags',
  '_ws.expert.severity',
  '_ws.expert.message',
];

/** Every frame: checksums Good (1), no TCP analysis flags, nothing above a note in expert info. */
function expectClean(rows: Row[], family: 4 | 6): void {
  expect(rows.length).toBeGreaterThan(0);
  for (const r of rows) {
    const frame = r['frame.number']!.join();
    expect(r['tcp.checksum.status'], `frame ${frame} TCP checksum`).toEqual(['1']);
    if (family === 4) expect(r['ip.checksum.status'], `frame ${frame} IP checksum`).toEqual(['1']);
    expect(r['tcp.analysis.flags'], `frame ${frame} TCP analysis`).toEqual([]);
    const severe = r['_ws.expert.severity']!.filter((s) => Number(s) > PI_NOTE);
    expect(severe, `frame ${frame}: ${r['_ws.expert.message']!.join('; ')}`).toEqual([]);
  }
}

const scratch = tempDir('pcap-tshark-');
afterAll(() => scratch.cleanup());

function writeTemp(name: string, data: Buffer | Conversation): string {
  const file = path.join(scratch.dir, name);
  writeFileSync(file, Buffer.isBuffer(data) ? data : buildPcap(data));
  return file;
}

const suite = TSHARK_PATH ? describe : describe.skip;
if (!TSHARK_PATH) console.warn('pcap tshark tests SKIPPED: tshark is not installed (apt-get install -y tshark)');

suite(TSHARK_PATH ? 'tshark dissection' : 'tshark dissection (SKIPPED: tshark not installed)', () => {
  for (const [name, family] of [
    ['bittorrent-ipv4.pcap', 4],
    ['bittorrent-ipv6.pcap', 6],
  ] as const) {
    it(`decodes the BitTorrent session in golden ${name}`, async () => {
      const file = path.join(FIXTURE_DIR, name);
      const rows = await tsharkFields(file, PEER_PORT, [
        ...CLEAN_FIELDS,
        'bittorrent.protocol.name',
        'bittorrent.reserved',
        'bittorrent.info_hash',
        'bittorrent.peer_id',
        'bittorrent.msg.type',
        'bittorrent.extended.id',
        'bencode.str',
        'bencode.int',
        'bittorrent.msg.bitfield',
        'bittorrent.piece.index',
      ]);
      expectClean(rows, family);
      expect(rows).toHaveLength(11); // SYN, SYN-ACK, ACK, 4 data, FIN, ACK, FIN, ACK
      expect(all(rows, 'bittorrent.protocol.name')).toEqual(['BitTorrent protocol', 'BitTorrent protocol']);
      expect(all(rows, 'bittorrent.reserved')).toEqual(['0000000000100004', '0000000000100004']);
      expect(all(rows, 'bittorrent.info_hash')).toEqual([INFOHASH_HEX, INFOHASH_HEX]);
      expect(all(rows, 'bittorrent.peer_id')).toEqual([hex(LOCAL_PEER_ID), hex(REMOTE_PEER_ID)]);
      // Ours: extended handshake; theirs: extended handshake + bitfield + have in one segment.
      expect(all(rows, 'bittorrent.msg.type')).toEqual(['20', '20', '5', '4']);
      expect(all(rows, 'bittorrent.extended.id')).toEqual(['0', '0']);
      expect(all(rows, 'bencode.str')).toEqual([
        ...['m', 'ut_metadata', 'v', 'capture-daemon/0.1.0'],
        ...['m', 'ut_metadata', 'v', 'qBittorrent/4.6.5'],
      ]);
      expect(all(rows, 'bencode.int')).toEqual(['1', '2']);
      expect(all(rows, 'bittorrent.msg.bitfield')).toEqual(['fffec0']);
      expect(all(rows, 'bittorrent.piece.index')).toEqual(['0x00000011']);
    });
  }

  for (const [label, local, remote, mss] of [
    ['IPv4', { ip: '10.0.0.1', port: 40000 }, { ip: '10.0.0.2', port: PEER_PORT }, 1460],
    ['IPv6', { ip: '2001:db8::1', port: 40000 }, { ip: '2001:db8::2', port: PEER_PORT }, 1440],
  ] as const) {
    it(`splits a 5000-byte write at the ${label} MSS and tshark reassembles it`, async () => {
      const buf = buildPcap(bigConversation(local, remote, 5000));
      const sizes = parsePcap(buf)
        .segments.filter((s) => s.payload.length > 0 && s.srcPort === PEER_PORT)
        .map((s) => s.payload.length);
      expect(sizes).toEqual([68, mss, mss, mss, 5000 - 3 * mss]);
      const rows = await tsharkFields(writeTemp(`big-${label}.pcap`, buf), PEER_PORT, [
        ...CLEAN_FIELDS,
        'tcp.reassembled.length',
        'tcp.segment.count',
        'bittorrent.msg.type',
        'bittorrent.msg.length',
        'bittorrent.piece.index',
      ]);
      expectClean(rows, label === 'IPv4' ? 4 : 6);
      expect(all(rows, 'tcp.reassembled.length')).toEqual(['5000']);
      expect(all(rows, 'tcp.segment.count')).toEqual(['4']);
      expect(all(rows, 'bittorrent.msg.type')).toEqual(['7']);
      expect(all(rows, 'bittorrent.msg.length')).toEqual(['4996']);
      expect(all(rows, 'bittorrent.piece.index')).toEqual(['0x00000003']);
    });
  }

  // The checks above must be able to fail: break the capture and watch tshark notice.
  it('notices a corrupted TCP checksum (the validation is really on)', async () => {
    const buf = readFileSync(path.join(FIXTURE_DIR, 'bittorrent-ipv4.pcap'));
    const seg = parsePcap(buf).segments[3]!; // our handshake
    const at = buf.indexOf(seg.payload);
    buf[at + 30] = buf[at + 30]! ^ 0xff;
    const rows = await tsharkFields(writeTemp('corrupt.pcap', buf), PEER_PORT, CLEAN_FIELDS);
    expect(rows[3]!['tcp.checksum.status']).toEqual(['0']);
  });

  it('notices a missing segment (the sequence analysis is really on)', async () => {
    const conv = bigConversation({ ip: '10.0.0.1', port: 40000 }, { ip: '10.0.0.2', port: PEER_PORT });
    const buf = buildPcap(conv);
    expect(parsePcap(buf).segments[7]!.payload.length).toBe(1460);
    // Drop the 2nd segment of the 5000-byte write: records are 16-byte header + frame.
    const records: Buffer[] = [];
    let off = 24;
    while (off < buf.length) {
      const len = 16 + buf.readUInt32LE(off + 8);
      records.push(buf.subarray(off, off + len));
      off += len;
    }
    const dropped = Buffer.concat([buf.subarray(0, 24), ...records.filter((_, i) => i !== 7)]);
    const rows = await tsharkFields(writeTemp('lost.pcap', dropped), PEER_PORT, ['tcp.analysis.flags', '_ws.expert.message']);
    expect(all(rows, '_ws.expert.message').join('\n')).toMatch(/previous segment\S* not captured/i);
    expect(all(rows, 'tcp.analysis.flags').length).toBeGreaterThan(0);
  });
});

