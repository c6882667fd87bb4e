/**
 * Fixed BitTorrent conversations for the pcap golden files and the tshark checks: the 68-byte
 * handshake each way (extension protocol + fast extension bits), BEP 10 extended handshakes,
 * a bitfield, a HAVE, then both FINs. Timestamps are fixed so the output is byte-stable.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Conversation, Endpoint } from '../../../src/pcap/conversation.js';

/** The committed golden pcaps. */
export const FIXTURE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/pcap');

export const INFOHASH_HEX = '0123456789abcdef0123456789abcdef01234567';
export const REMOTE_PEER_ID = '-qB4650-xxxxxxxxxxxx';
export const LOCAL_PEER_ID = '-CD0100-abcdefghijkl';
export const PEER_PORT = 6881;
/** 2025-06-15T15:06:40Z in microseconds. */
export const T0_US = 1_750_000_000_000_000;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

export function handshake(peerId: string): Buffer {
  const reserved = Buffer.alloc(8);
  reserved[5] = 0x10; // BEP 10 extension protocol
  reserved[7] = 0x04; // BEP 6 fast extension
  const hs = Buffer.concat([
    Buffer.from([19]),
    Buffer.from('BitTorrent protocol', 'latin1'),
    reserved,
    Buffer.from(INFOHASH_HEX, 'hex'),
    Buffer.from(peerId, 'latin1'),
  ]);
  if (hs.length !== 68) throw new Error(`handshake is ${hs.length} bytes`);
  return hs;
}

/** <len><20><0><bencoded dict>, with the length prefix computed from the body. */
export function extendedHandshake(client: string, utMetadataId: number): Buffer {
  const dict = `d1:md11:ut_metadatai${utMetadataId}ee1:v${Buffer.byteLength(client)}:${client}e`;
  const body = Buffer.concat([Buffer.from([20, 0]), Buffer.from(dict, 'latin1')]);
  return Buffer.concat([u32(body.length), body]);
}

export function bitfield(bits: Uint8Array): Buffer {
  return Buffer.concat([u32(1 + bits.length), Buffer.from([5]), bits]);
}

export function have(piece: number): Buffer {
  return Buffer.concat([u32(5), Buffer.from([4]), u32(piece)]);
}

export function btConversation(local: Endpoint, remote: Endpoint): Conversation {
  const t = (ms: number): number => T0_US + ms * 1000;
  return {
    local,
    remote,
    events: [
      { kind: 'connect', timeUs: t(0) },
      { kind: 'data', dir: 'out', timeUs: t(1), data: handshake(LOCAL_PEER_ID) },
      { kind: 'data', dir: 'in', timeUs: t(25), data: handshake(REMOTE_PEER_ID) },
      { kind: 'data', dir: 'out', timeUs: t(26), data: extendedHandshake('capture-daemon/0.1.0', 1) },
      // The peer sends its extended handshake, bitfield and a HAVE in one write.
      {
        kind: 'data',
        dir: 'in',
        timeUs: t(51),
        data: Buffer.concat([
          extendedHandshake('qBittorrent/4.6.5', 2),
          bitfield(Uint8Array.from([0xff, 0xfe, 0xc0])),
          have(17),
        ]),
      },
      { kind: 'fin', dir: 'out', timeUs: t(60) },
      { kind: 'fin', dir: 'in', timeUs: t(85) },
    ],
  };
}

export const V4_CONVERSATION = (): Conversation =>
  btConversation({ ip: '192.0.2.10', port: 51413 }, { ip: '198.51.100.7', port: PEER_PORT });

export const V6_CONVERSATION = (): Conversation =>
  btConversation({ ip: '2001:db8::10', port: 51413 }, { ip: '2001:db8:1::7', port: PEER_PORT });

/** A large single write to check MSS segmentation and reassembly. */
export function bigConversation(local: Endpoint, remote: Endpoint, size = 5000): Conversation {
  const piece = Buffer.alloc(size - 13);
  for (let i = 0; i < piece.length; i++) piece[i] = (i * 7 + 3) & 0xff;
  // A PIECE message (id 7): <len><7><index><begin><block>, `size` bytes in total.
  const msg = Buffer.concat([u32(size - 4), Buffer.from([7]), u32(3), u32(0), piece]);
  return {
    local,
    remote,
    events: [
      { kind: 'connect', timeUs: T0_US },
      { kind: 'data', dir: 'out', timeUs: T0_US + 1000, data: handshake(LOCAL_PEER_ID) },
      { kind: 'data', dir: 'in', timeUs: T0_US + 20_000, data: handshake(REMOTE_PEER_ID) },
      { kind: 'data', dir: 'in', timeUs: T0_US + 40_000, data: msg },
      { kind: 'fin', dir: 'in', timeUs: T0_US + 50_000 },
      { kind: 'fin', dir: 'out', timeUs: T0_US + 50_100 },
    ],
  };
}
