/**
 * One TCP segment inside its IP packet and Ethernet frame, with correct IP and TCP checksums.
 * A SegmentWriter is bound to one conversation's endpoints; `outbound` = local → remote.
 */
import { internetChecksum } from './checksum.js';
import {
  ethernetFrame,
  ipv4Header,
  ipv6Header,
  resolveAddresses,
  tcpPseudoHeader,
  type AddressPair,
  type IpFamily,
} from './ip-frames.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

const TCP_HEADER_LEN = 20;
/** Window scale shift advertised in SYN / SYN-ACK: the 0xffff window then means ~8 MiB. */
export const WINDOW_SHIFT = 7;

export interface SegmentSpec {
  outbound: boolean;
  seq: number;
  /** Acknowledgment number; only written when `flags` has ACK. */
  ack: number;
  flags: number;
  payload?: Uint8Array;
}

/** MSS-sized payloads keep every Ethernet frame at the classic 1514 bytes. */
export function mssFor(family: IpFamily): number {
  return family === 4 ? 1460 : 1440;
}

/** SYN options: MSS, NOP, window scale (8 bytes, so the header stays 32-bit aligned). */
function synOptions(mss: number): Buffer {
  const o = Buffer.alloc(8);
  o[0] = 2; // MSS
  o[1] = 4;
  o.writeUInt16BE(mss, 2);
  o[4] = 1; // NOP
  o[5] = 3; // window scale
  o[6] = 3;
  o[7] = WINDOW_SHIFT;
  return o;
}

export class SegmentWriter {
  readonly addresses: AddressPair;
  readonly mss: number;
  private readonly ipId = { out: 0, in: 0 };

  constructor(
    localIp: string,
    private readonly localPort: number,
    remoteIp: string,
    private readonly remotePort: number,
    ipIdSeed = 0,
  ) {
    checkPort(localPort);
    checkPort(remotePort);
    this.addresses = resolveAddresses(localIp, remoteIp);
    this.mss = mssFor(this.addresses.family);
    this.ipId.out = ipIdSeed & 0xffff;
    this.ipId.in = (ipIdSeed >>> 16) & 0xffff;
  }

  /** The whole Ethernet frame for one segment. */
  frame(spec: SegmentSpec): Buffer {
    const { family, local, remote } = this.addresses;
    const src = spec.outbound ? local : remote;
    const dst = spec.outbound ? remote : local;
    const isSyn = (spec.flags & TCP_SYN) !== 0;
    const options = isSyn ? synOptions(this.mss) : Buffer.alloc(0);
    const payload = spec.payload ?? new Uint8Array(0);

    const tcp = Buffer.alloc(TCP_HEADER_LEN + options.length);
    tcp.writeUInt16BE(spec.outbound ? this.localPort : this.remotePort, 0);
    tcp.writeUInt16BE(spec.outbound ? this.remotePort : this.localPort, 2);
    tcp.writeUInt32BE(spec.seq >>> 0, 4);
    tcp.writeUInt32BE((spec.flags & TCP_ACK) !== 0 ? spec.ack >>> 0 : 0, 8);
    tcp[12] = (tcp.length / 4) << 4; // data offset in 32-bit words
    tcp[13] = spec.flags;
    // SYNs are never scaled; afterwards 0xffff << WINDOW_SHIFT. An RST advertises no window.
    tcp.writeUInt16BE((spec.flags & TCP_RST) !== 0 ? 0 : 0xffff, 14);
    options.copy(tcp, TCP_HEADER_LEN);
    const tcpLength = tcp.length + payload.length;
    tcp.writeUInt16BE(internetChecksum(tcpPseudoHeader(family, src, dst, tcpLength), tcp, payload), 16);

    const key = spec.outbound ? 'out' : 'in';
    const ip =
      family === 4 ? ipv4Header(src, dst, tcpLength, this.ipId[key]++) : ipv6Header(src, dst, tcpLength);
    this.ipId[key] &= 0xffff;
    return ethernetFrame(family, spec.outbound, [ip, tcp, Buffer.from(payload.buffer, payload.byteOffset, payload.length)]);
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`pcap: bad TCP port ${port}`);
}
