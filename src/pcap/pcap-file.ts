/**
 * Classic libpcap files (not pcapng): magic 0xa1b2c3d4 written little-endian (microsecond
 * timestamps), version 2.4, snaplen 262144, link type 1 (Ethernet). Readable by tcpdump,
 * Wireshark/tshark, and anything built on libpcap.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import type { Conversation } from './conversation.js';
import { conversationFrames, type Frame } from './tcp-frames.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_SNAPLEN = 262144;
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

function globalHeader(): Buffer {
  const h = Buffer.alloc(GLOBAL_HEADER_LEN);
  h.writeUInt32LE(PCAP_MAGIC_US, 0);
  h.writeUInt16LE(2, 4); // version major
  h.writeUInt16LE(4, 6); // version minor
  h.writeInt32LE(0, 8); // thiszone: timestamps are UTC
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(PCAP_SNAPLEN, 16);
  h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return h;
}

function recordHeader(frame: Frame, captured: number): Buffer {
  const h = Buffer.alloc(RECORD_HEADER_LEN);
  const us = Math.max(0, Math.floor(frame.timeUs));
  h.writeUInt32LE(Math.floor(us / 1_000_000) >>> 0, 0);
  h.writeUInt32LE(us % 1_000_000, 4);
  h.writeUInt32LE(captured, 8);
  h.writeUInt32LE(frame.data.length, 12);
  return h;
}

/** The complete pcap file for one conversation. */
export function buildPcap(conv: Conversation): Buffer {
  const parts: Buffer[] = [globalHeader()];
  for (const frame of conversationFrames(conv)) {
    const captured = Math.min(frame.data.length, PCAP_SNAPLEN);
    parts.push(recordHeader(frame, captured), frame.data.subarray(0, captured));
  }
  return Buffer.concat(parts);
}

/** Writes the pcap atomically: to `path + '.tmp'`, then renamed over `path`. */
export async function writePcapFile(path: string, conv: Conversation): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, buildPcap(conv), { mode: 0o640 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
