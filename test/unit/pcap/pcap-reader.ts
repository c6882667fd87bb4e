/** A minimal classic-pcap + Ethernet/IP/TCP parser, enough to check the writer's output in tests. */
export interface ParsedSegment {
  tsSec: number;
  tsUsec: number;
  family: 4 | 6;
  ipHeader: Buffer;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  tcp: Buffer;
  tcpHeaderLen: number;
  payload: Buffer;
  frameLen: number;
}

export interface ParsedPcap {
  magic: number;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
  segments: ParsedSegment[];
}

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i).toString(16));
  return words.join(':');
}

export function parsePcap(buf: Buffer): ParsedPcap {
  const out: ParsedPcap = {
    magic: buf.readUInt32LE(0),
    versionMajor: buf.readUInt16LE(4),
    versionMinor: buf.readUInt16LE(6),
    snaplen: buf.readUInt32LE(16),
    linktype: buf.readUInt32LE(20),
    segments: [],
  };
  let off = 24;
  while (off < buf.length) {
    const tsSec = buf.readUInt32LE(off);
    const tsUsec = buf.readUInt32LE(off + 4);
    const incl = buf.readUInt32LE(off + 8);
    const frame = buf.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    const ethertype = frame.readUInt16BE(12);
    const ip = frame.subarray(14);
    const family = ethertype === 0x0800 ? 4 : 6;
    const ipLen = family === 4 ? (ip[0]! & 0x0f) * 4 : 40;
    const total = family === 4 ? ip.readUInt16BE(2) : 40 + ip.readUInt16BE(4);
    const tcp = ip.subarray(ipLen, total);
    const tcpHeaderLen = (tcp[12]! >> 4) * 4;
    out.segments.push({
      tsSec,
      tsUsec,
      family,
      ipHeader: ip.subarray(0, ipLen),
      src: ipString(family === 4 ? ip.subarray(12, 16) : ip.subarray(8, 24)),
      dst: ipString(family === 4 ? ip.subarray(16, 20) : ip.subarray(24, 40)),
      srcPort: tcp.readUInt16BE(0),
      dstPort: tcp.readUInt16BE(2),
      seq: tcp.readUInt32BE(4),
      ack: tcp.readUInt32BE(8),
      flags: tcp[13]!,
      window: tcp.readUInt16BE(14),
      tcp,
      tcpHeaderLen,
      payload: tcp.subarray(tcpHeaderLen),
      frameLen: frame.length,
    });
  }
  return out;
}
