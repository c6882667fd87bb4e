/**
 * Classic libpcap files (pcapng only for a conversation with a note, see buildPcapng): magic 0xa1b2c3d4 written little-endian (microsecond
 * timestamps), version 2.4, snaplen 262144, link type 1 (Ethernet). Readable by tcpdump,
 * Wireshark/tshark, and anything built on libpcap.
 */
import { open, rename, rm } from 'node:fs/promises';
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

/** Bytes of pcap records gathered before each write: what writing a pcap holds beyond the conversation. */
export const PCAP_WRITE_CHUNK = 256 * 1024;

/** The pcap file's parts (global header, then record header + frame, …) in pieces of about `chunk` bytes. */
function* pcapChunks(conv: Conversation, chunk: number): Generator<Buffer> {
  let parts: Buffer[] = [globalHeader()];
  let size = GLOBAL_HEADER_LEN;
  for (const frame of conversationFrames(conv)) {
    const captured = Math.min(frame.data.length, PCAP_SNAPLEN);
    parts.push(recordHeader(frame, captured), frame.data.subarray(0, captured));
    size += RECORD_HEADER_LEN + captured;
    if (size >= chunk) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/** pcapng block: type, total length, body (padded to 4 bytes), total length again; little-endian. */
function pcapngBlock(type: number, body: Buffer): Buffer {
  const padded = Buffer.alloc((body.length + 3) & ~3);
  body.copy(padded);
  const head = Buffer.alloc(8);
  const total = 12 + padded.length;
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(total, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(total, 0);
  return Buffer.concat([head, padded, tail]);
}

function pcapngOption(code: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(code, 0);
  head.writeUInt16LE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc(((value.length + 3) & ~3) - value.length)]);
}

/** The pcapng file's blocks in pieces of about `chunk` bytes (see buildPcapng). */
function* pcapngChunks(conv: Conversation, note: string, chunk: number): Generator<Buffer> {
  const comment = Buffer.from(note, 'utf8').subarray(0, 0xfff0);
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0); // byte-order magic
  shb.writeUInt16LE(1, 4); // major
  shb.writeUInt16LE(0, 6); // minor
  shb.writeBigInt64LE(-1n, 8); // section length: unknown
  let parts: Buffer[] = [pcapngBlock(0x0a0d0d0a, Buffer.concat([shb, pcapngOption(1, comment), pcapngOption(0, Buffer.alloc(0))]))];
  const idb = Buffer.alloc(8);
  idb.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  idb.writeUInt32LE(PCAP_SNAPLEN, 4);
  parts.push(pcapngBlock(0x00000001, idb));
  let size = parts.reduce((n, b) => n + b.length, 0);
  for (const frame of conversationFrames(conv)) {
    const captured = Math.min(frame.data.length, PCAP_SNAPLEN);
    const epb = Buffer.alloc(20);
    const us = BigInt(Math.max(0, Math.floor(frame.timeUs)));
    epb.writeUInt32LE(0, 0); // interface 0
    epb.writeUInt32LE(Number(us >> 32n), 4);
    epb.writeUInt32LE(Number(us & 0xffffffffn), 8);
    epb.writeUInt32LE(captured, 12);
    epb.writeUInt32LE(frame.data.length, 16);
    const block = pcapngBlock(0x00000006, Buffer.concat([epb, frame.data.subarray(0, captured)]));
    parts.push(block);
    size += block.length;
    if (size >= chunk) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/**
 * The same frames as pcapng, with `note` as the section header's comment (opt_comment), for
 * conversations whose bytes on the wire were not what the frames show (decrypted MSE/PE).
 * One Ethernet interface, microsecond timestamps (the default if_tsresol).
 */
export function buildPcapng(conv: Conversation, note: string): Buffer {
  return Buffer.concat([...pcapngChunks(conv, note, Infinity)]);
}

/** The complete pcap file for one conversation. */
export function buildPcap(conv: Conversation): Buffer {
  return Buffer.concat([...pcapChunks(conv, Infinity)]);
}

/**
 * Writes the pcap (pcapng when the conversation has a note) atomically: to `path + '.tmp'`, then
 * renamed over `path`; PCAP_WRITE_CHUNK bytes at a time, never the whole file in memory.
 */
export async function writePcapFile(path: string, conv: Conversation): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    const file = await open(tmp, 'w', 0o640);
    try {
      const chunks = conv.note === undefined ? pcapChunks(conv, PCAP_WRITE_CHUNK) : pcapngChunks(conv, conv.note, PCAP_WRITE_CHUNK);
      for (const part of chunks) await file.write(part);
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
