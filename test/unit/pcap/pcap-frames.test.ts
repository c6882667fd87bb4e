/** The writer's TCP/IP synthesis, checked without tshark: checksums, seq/ack, edge cases. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { internetChecksum } from '../../../src/pcap/checksum.js';
import type { Conversation, ConversationEvent } from '../../../src/pcap/conversation.js';
import { buildPcap, writePcapFile } from '../../../src/pcap/pcap-file.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { PEER_PORT, T0_US, V4_CONVERSATION, V6_CONVERSATION, bigConversation } from './bt-conversation.js';
import { parsePcap, type ParsedSegment } from './pcap-reader.js';

const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
const L = { ip: '192.0.2.1', port: 50000 };
const R = { ip: '192.0.2.2', port: 6881 };
const conv = (events: ConversationEvent[], local = L, remote = R): Conversation => ({ local, remote, events });
const segs = (c: Conversation): ParsedSegment[] => parsePcap(buildPcap(c)).segments;
const data = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

/** Independent pseudo-header: the stored checksum must make the whole sum verify to 0. */
function tcpChecksumOk(s: ParsedSegment): boolean {
  const src = s.family === 4 ? s.ipHeader.subarray(12, 16) : s.ipHeader.subarray(8, 24);
  const dst = s.family === 4 ? s.ipHeader.subarray(16, 20) : s.ipHeader.subarray(24, 40);
  const len = Buffer.alloc(s.family === 4 ? 4 : 8);
  if (s.family === 4) len.writeUInt32BE(0x00060000 | s.tcp.length); else { len.writeUInt32BE(s.tcp.length); len[7] = 6; }
  return internetChecksum(src, dst, len, s.tcp) === 0;
}

describe('internetChecksum', () => {
  it('matches the RFC 1071 example and pads odd lengths', () => {
    expect(internetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex'))).toBe(0x220d);
    expect(internetChecksum(Buffer.from([0x01]))).toBe(internetChecksum(Buffer.from([0x01, 0x00])));
    expect(internetChecksum(Buffer.from('0001f203', 'hex'), Buffer.from('f4f5f6f7', 'hex'))).toBe(0x220d);
  });
});

describe('conversation frames', () => {
  it('writes a classic pcap header: µs magic, v2.4, snaplen 262144, Ethernet', () => {
    const p = parsePcap(buildPcap(V4_CONVERSATION()));
    expect(p).toMatchObject({ magic: 0xa1b2c3d4, versionMajor: 2, versionMinor: 4, snaplen: 262144, linktype: 1 });
  });

  for (const [name, make] of [['IPv4', V4_CONVERSATION], ['IPv6', V6_CONVERSATION]] as const) {
    it(`${name}: valid checksums and consistent seq/ack throughout`, () => {
      const all = segs(make());
      expect(all.map((s) => s.flags)).toEqual([
        SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK, PSH | ACK, PSH | ACK, FIN | ACK, ACK, FIN | ACK, ACK,
      ]);
      const next = new Map<number, number>(); // by source port: next seq expected
      for (const s of all) {
        expect(tcpChecksumOk(s)).toBe(true);
        if (s.family === 4) expect(internetChecksum(s.ipHeader)).toBe(0);
        expect(s.family).toBe(name === 'IPv4' ? 4 : 6);
        const other = s.srcPort === PEER_PORT ? 51413 : PEER_PORT; // the fixture's two ports
        if (next.has(s.srcPort)) expect(s.seq).toBe(next.get(s.srcPort));
        if (s.flags & ACK && next.has(other)) expect(s.ack).toBe(next.get(other));
        const consumed = s.payload.length + (s.flags & (SYN | FIN) ? 1 : 0);
        next.set(s.srcPort, (s.seq + consumed) >>> 0);
      }
    });
  }

  it('uses event times for records and a hash of the endpoints for the ISNs', () => {
    const a = segs(V4_CONVERSATION());
    expect(a[0]!.tsSec * 1_000_000 + a[0]!.tsUsec).toBe(T0_US);
    expect(a[3]!.tsSec * 1_000_000 + a[3]!.tsUsec).toBe(T0_US + 1000);
    const b = segs({ ...V4_CONVERSATION(), local: { ip: '192.0.2.10', port: 51414 } });
    expect(b[0]!.seq).not.toBe(a[0]!.seq);
    expect(segs(V4_CONVERSATION())[0]!.seq).toBe(a[0]!.seq);
  });

  it('advertises MSS and window scale in the SYN and SYN-ACK', () => {
    const [syn, synAck] = segs(V6_CONVERSATION());
    expect(syn!.tcp.subarray(20, syn!.tcpHeaderLen).toString('hex')).toBe('020405a0' + '01030307');
    expect(synAck!.tcp.subarray(20, synAck!.tcpHeaderLen).toString('hex')).toBe('020405a0' + '01030307');
  });

  it('splits at the MSS with PSH on the last segment, and the receiver ACKs the write', () => {
    const all = segs(bigConversation(L, R, 5000));
    const big = all.filter((s) => s.srcPort === R.port && s.payload.length > 100);
    expect(big.map((s) => [s.payload.length, s.flags])).toEqual([
      [1460, ACK], [1460, ACK], [1460, ACK], [620, PSH | ACK],
    ]);
    expect(big.every((s) => s.frameLen <= 1514)).toBe(true);
    const after = all[all.indexOf(big[3]!) + 1]!;
    expect(after).toMatchObject({ srcPort: L.port, flags: ACK, ack: (big[3]!.seq + 620) >>> 0 });
  });

  it('emits a handshake before data that came without a connect', () => {
    const s = segs(conv([{ kind: 'data', dir: 'in', timeUs: T0_US, data: data(10) }]));
    expect(s.map((x) => x.flags)).toEqual([SYN, SYN | ACK, ACK, PSH | ACK, ACK]);
  });

  it('writes nothing for a failed connect (reset before connect)', () => {
    expect(buildPcap(conv([{ kind: 'reset', dir: 'in', timeUs: T0_US }])).length).toBe(24);
    expect(buildPcap(conv([])).length).toBe(24);
  });

  it('a reset becomes RST|ACK and ends the connection', () => {
    const s = segs(conv([
      { kind: 'connect', timeUs: T0_US },
      { kind: 'data', dir: 'out', timeUs: T0_US + 1, data: data(5) },
      { kind: 'reset', dir: 'in', timeUs: T0_US + 2 },
      { kind: 'data', dir: 'in', timeUs: T0_US + 3, data: data(5) },
    ]));
    expect(s.map((x) => x.flags)).toEqual([SYN, SYN | ACK, ACK, PSH | ACK, ACK, RST | ACK]);
    expect(s[5]!.srcPort).toBe(R.port);
  });

  it('writes IPv4-mapped IPv6 as IPv4, and mixed families as IPv6', () => {
    const mapped = segs(conv([{ kind: 'connect', timeUs: T0_US }], { ip: '::ffff:10.1.2.3', port: 1 }, { ip: '10.9.8.7', port: 2 }));
    expect(mapped[0]).toMatchObject({ family: 4, src: '10.1.2.3', dst: '10.9.8.7' });
    const mixed = segs(conv([{ kind: 'connect', timeUs: T0_US }], { ip: '2001:db8::1', port: 1 }, { ip: '10.9.8.7', port: 2 }));
    expect(mixed[0]).toMatchObject({ family: 6, src: '2001:db8:0:0:0:0:0:1', dst: '0:0:0:0:0:ffff:a09:807' });
    expect(mixed.every(tcpChecksumOk)).toBe(true);
  });

  it('rejects a conversation without real IP addresses', () => {
    expect(() => buildPcap(conv([{ kind: 'connect', timeUs: T0_US }], { ip: 'localhost', port: 1 }))).toThrow(/not an IP/);
  });
});

describe('writePcapFile', () => {
  const tmp = tempDir('pcap-file-');
  afterAll(() => tmp.cleanup());

  it('writes the pcap atomically and leaves no temp file', async () => {
    const file = path.join(tmp.dir, 'a.pcap');
    await writePcapFile(file, V4_CONVERSATION());
    expect(readFileSync(file).equals(buildPcap(V4_CONVERSATION()))).toBe(true);
    expect(readdirSync(tmp.dir)).toEqual(['a.pcap']);
  });

  it('removes the temp file and rejects when the write fails', async () => {
    const file = path.join(tmp.dir, 'missing-dir', 'b.pcap');
    await expect(writePcapFile(file, V4_CONVERSATION())).rejects.toThrow(/ENOENT/);
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });
});
