/**
 * IPv4 / IPv6 packets and the Ethernet frames around them, for the synthesized capture.
 * Addresses come from the socket layer as strings; IPv4-mapped IPv6 (::ffff:a.b.c.d) is written
 * as IPv4. If one side is real IPv6 and the other IPv4, both are written as IPv6 (the IPv4 one
 * mapped), which is what a dual-stack socket actually carried.
 */
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { internetChecksum } from './checksum.js';

export type IpFamily = 4 | 6;

export interface AddressPair {
  family: IpFamily;
  /** 4 or 16 bytes each. */
  local: Buffer;
  remote: Buffer;
}

export const ETHERNET_HEADER_LEN = 14;
export const IPV4_HEADER_LEN = 20;
export const IPV6_HEADER_LEN = 40;
const IPPROTO_TCP = 6;
const DEFAULT_TTL = 64;

/** Fixed, locally administered MACs: "our" host and the peer (the gateway, as far as the frame cares). */
const LOCAL_MAC = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const REMOTE_MAC = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);

interface ParsedAddress {
  family: IpFamily;
  bytes: Buffer;
}

function parseAddress(ip: string): ParsedAddress {
  if (isIPv4(ip)) return { family: 4, bytes: Buffer.from(ipaddr.IPv4.parse(ip).toByteArray()) };
  if (isIPv6(ip) || (ip.includes('%') && isIPv6(ip.slice(0, ip.indexOf('%'))))) {
    const v6 = ipaddr.IPv6.parse(ip.split('%')[0]!);
    if (v6.isIPv4MappedAddress()) return { family: 4, bytes: Buffer.from(v6.toIPv4Address().toByteArray()) };
    return { family: 6, bytes: Buffer.from(v6.toByteArray()) };
  }
  throw new TypeError(`pcap: not an IP address: ${JSON.stringify(ip)}`);
}

function toMappedV6(a: ParsedAddress): Buffer {
  if (a.family === 6) return a.bytes;
  return Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), a.bytes]);
}

/** The packet family and raw addresses for a conversation's two endpoints. */
export function resolveAddresses(localIp: string, remoteIp: string): AddressPair {
  const local = parseAddress(localIp);
  const remote = parseAddress(remoteIp);
  if (local.family === 4 && remote.family === 4) return { family: 4, local: local.bytes, remote: remote.bytes };
  return { family: 6, local: toMappedV6(local), remote: toMappedV6(remote) };
}

/** The TCP/IP pseudo-header that the TCP checksum covers (RFC 793 for IPv4, RFC 8200 §8.1 for IPv6). */
export function tcpPseudoHeader(family: IpFamily, src: Buffer, dst: Buffer, tcpLength: number): Buffer {
  if (family === 4) {
    const ph = Buffer.alloc(12);
    src.copy(ph, 0);
    dst.copy(ph, 4);
    ph[9] = IPPROTO_TCP;
    ph.writeUInt16BE(tcpLength, 10);
    return ph;
  }
  const ph = Buffer.alloc(40);
  src.copy(ph, 0);
  dst.copy(ph, 16);
  ph.writeUInt32BE(tcpLength, 32);
  ph[39] = IPPROTO_TCP;
  return ph;
}

/** An IPv4 header (no options, Don't Fragment set) with its header checksum filled in. */
export function ipv4Header(src: Buffer, dst: Buffer, payloadLength: number, id: number): Buffer {
  const h = Buffer.alloc(IPV4_HEADER_LEN);
  h[0] = 0x45; // version 4, IHL 5 words
  h[1] = 0; // DSCP/ECN
  h.writeUInt16BE(IPV4_HEADER_LEN + payloadLength, 2);
  h.writeUInt16BE(id & 0xffff, 4);
  h.writeUInt16BE(0x4000, 6); // DF, fragment offset 0
  h[8] = DEFAULT_TTL;
  h[9] = IPPROTO_TCP;
  src.copy(h, 12);
  dst.copy(h, 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return h;
}

/** An IPv6 fixed header (traffic class 0, flow label 0, next header TCP). */
export function ipv6Header(src: Buffer, dst: Buffer, payloadLength: number): Buffer {
  const h = Buffer.alloc(IPV6_HEADER_LEN);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payloadLength, 4);
  h[6] = IPPROTO_TCP;
  h[7] = DEFAULT_TTL;
  src.copy(h, 8);
  dst.copy(h, 24);
  return h;
}

/** Ethernet II frame carrying one IP packet; `outbound` picks the MAC direction. */
export function ethernetFrame(family: IpFamily, outbound: boolean, ipPacket: Buffer[]): Buffer {
  const eth = Buffer.alloc(ETHERNET_HEADER_LEN);
  (outbound ? REMOTE_MAC : LOCAL_MAC).copy(eth, 0); // destination
  (outbound ? LOCAL_MAC : REMOTE_MAC).copy(eth, 6); // source
  eth.writeUInt16BE(family === 4 ? 0x0800 : 0x86dd, 12);
  return Buffer.concat([eth, ...ipPacket]);
}
