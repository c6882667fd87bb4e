import { once } from 'node:events';
import net from 'node:net';
import bencode from 'bencode';

/**
 * Hostile BitTorrent peers for the reliability suite and bench/hostile-peers.ts: one TCP server on
 * a loopback address that answers our handshake and then misbehaves in one way, as the internet
 * does. Each connection costs one socket and at most one timer; floods write only while the socket
 * drains (so the flooder itself holds little memory).
 */
export type HostileMode =
  /** 1 MiB `piece` messages we never asked for, as fast as we read them. */
  | 'piece-flood'
  /** HAVE messages (in-range indexes, repeated), as fast as we read them. */
  | 'have-flood'
  /** A length prefix of 4 GiB - 1 right after the handshake. */
  | 'length-4gib'
  /** A bitfield three bytes longer than the torrent needs. */
  | 'wrong-bitfield'
  /** The handshake one byte every 400 ms. */
  | 'slowloris'
  | 'wrong-infohash'
  /** An HTTP answer instead of a handshake. */
  | 'not-bittorrent'
  /** A handshake, then nothing at all. */
  | 'stall'
  /** Extended handshake announcing a 20 MiB info dictionary. */
  | 'meta-size-20mib'
  /** Answers metadata requests with a piece one byte short. */
  | 'meta-wrong-piece-length'
  /** Answers metadata requests with a total_size other than the announced metadata_size. */
  | 'meta-wrong-total-size'
  /** Serves an info dictionary that does not hash to the infohash. */
  | 'meta-bad-sha1'
  /** Answers metadata requests with data for piece 999. */
  | 'meta-out-of-range-piece';

export const HOSTILE_MODES: readonly HostileMode[] = [
  'piece-flood',
  'have-flood',
  'length-4gib',
  'wrong-bitfield',
  'slowloris',
  'wrong-infohash',
  'not-bittorrent',
  'stall',
  'meta-size-20mib',
  'meta-wrong-piece-length',
  'meta-wrong-total-size',
  'meta-bad-sha1',
  'meta-out-of-range-piece',
];

export interface HostilePeerOptions {
  host: string;
  port?: number;
  mode: HostileMode;
  /** Infohash, hex (the one the capture asks for). */
  infohash: string;
  pieceCount: number;
  /** The real info dictionary (the metadata modes serve it, or a lie about it). */
  info?: Uint8Array;
  /** Advertise BEP 6 (default true). */
  fast?: boolean;
}

export interface HostilePeer {
  host: string;
  port: number;
  readonly accepted: number;
  /** Bytes written to capturers so far (all connections). */
  readonly bytesSent: number;
  close(): Promise<void>;
}

const PEER_ID = Buffer.from('-XX0001-hostile00000', 'latin1');
const HTTP = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
const MiB = 1024 * 1024;

function message(id: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const m = Buffer.alloc(5 + payload.length);
  m.writeUInt32BE(1 + payload.length, 0);
  m[4] = id;
  m.set(payload, 5);
  return m;
}

function extended(extId: number, payload: Uint8Array): Buffer {
  return message(20, Buffer.concat([Buffer.from([extId]), payload]));
}

/** Half the pieces (even indexes): not a seeder, so the capture listens for the whole HAVE window. */
function halfBitfield(pieceCount: number): Buffer {
  const b = Buffer.alloc(Math.ceil(pieceCount / 8));
  for (let i = 0; i < pieceCount; i += 2) b[i >> 3] = (b[i >> 3] as number) | (0x80 >> (i & 7));
  return b;
}

/** 64 KiB of HAVE messages cycling through the torrent's pieces. */
function haveBlock(pieceCount: number): Buffer {
  const n = Math.floor((64 * 1024) / 9);
  const b = Buffer.alloc(n * 9);
  for (let i = 0; i < n; i++) {
    b.writeUInt32BE(5, i * 9);
    b[i * 9 + 4] = 4;
    b.writeUInt32BE(i % pieceCount, i * 9 + 5);
  }
  return b;
}

/** A 1 MiB `piece` message (length prefix 1 MiB: id, index, begin and the block). */
function pieceMessage(): Buffer {
  const m = Buffer.alloc(4 + MiB);
  m.writeUInt32BE(MiB, 0);
  m[4] = 7;
  return m;
}

export async function startHostilePeer(options: HostilePeerOptions): Promise<HostilePeer> {
  const { mode } = options;
  const infohash = Buffer.from(options.infohash, 'hex');
  const fast = options.fast ?? true;
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let bytesSent = 0;
  const flood = mode === 'piece-flood' ? pieceMessage() : mode === 'have-flood' ? haveBlock(options.pieceCount) : undefined;

  const handshake = (ih: Buffer = infohash): Buffer => {
    const h = Buffer.alloc(68);
    h[0] = 19;
    h.write('BitTorrent protocol', 1, 'latin1');
    h[25] = 0x10;
    if (fast) h[27] = 0x04;
    ih.copy(h, 28);
    PEER_ID.copy(h, 48);
    return h;
  };

  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    let timer: NodeJS.Timeout | undefined;
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      clearTimeout(timer);
    });
    const write = (b: Uint8Array): boolean => {
      if (socket.destroyed) return false;
      bytesSent += b.length;
      return socket.write(b);
    };

    if (mode === 'not-bittorrent') {
      write(HTTP);
      return;
    }
    if (mode === 'slowloris') {
      const h = handshake();
      let i = 0;
      const drip = (): void => {
        if (i < h.length) write(h.subarray(i, ++i));
        timer = setTimeout(drip, 400);
      };
      drip();
      return;
    }

    let received = Buffer.alloc(0);
    let handshaken = false;
    let utMetadata = 0;
    socket.on('data', (d: Buffer) => {
      if (!handshaken) {
        received = Buffer.concat([received, d]);
        if (received.length < 68) return;
        handshaken = true;
        onHandshake();
        d = received.subarray(68);
        received = Buffer.alloc(0);
      }
      if (mode.startsWith('meta-')) onMetadataBytes(d);
    });

    const startFlood = (): void => {
      const block = flood as Buffer;
      const pump = (): void => {
        while (write(block));
      };
      socket.on('drain', pump);
      pump();
    };

    const onHandshake = (): void => {
      if (mode === 'wrong-infohash') {
        write(handshake(Buffer.alloc(20, 0xee)));
        return;
      }
      write(handshake());
      switch (mode) {
        case 'stall':
          return;
        case 'length-4gib': {
          const head = Buffer.alloc(5 + 1024);
          head.writeUInt32BE(0xffffffff, 0);
          head[4] = 7;
          write(head);
          return;
        }
        case 'wrong-bitfield':
          write(message(5, Buffer.alloc(Math.ceil(options.pieceCount / 8) + 3, 0xff)));
          return;
        case 'piece-flood':
        case 'have-flood':
          write(message(5, halfBitfield(options.pieceCount)));
          startFlood();
          return;
        default:
          break;
      }
      // The metadata modes: an extended handshake offering ut_metadata (id 3), then half the pieces.
      const info = options.info ?? new Uint8Array(0);
      const size = mode === 'meta-size-20mib' ? 20 * MiB : info.length;
      write(extended(0, bencode.encode({ m: { ut_metadata: 3 }, metadata_size: size, v: 'hostile/1.0' })));
      write(message(5, halfBitfield(options.pieceCount)));
    };

    /** Answers each ut_metadata request (extended id 3 from our point of view: the capture's id is in its handshake). */
    let pending = Buffer.alloc(0);
    const onMetadataBytes = (d: Buffer): void => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 4) {
        const len = pending.readUInt32BE(0);
        if (pending.length < 4 + len) break;
        const msg = pending.subarray(4, 4 + len);
        pending = pending.subarray(4 + len);
        if (msg[0] !== 20) continue;
        if (msg[1] === 0) {
          // The capture's extended handshake: its ut_metadata id.
          try {
            const hs = bencode.decode(msg.subarray(2)) as { m?: { ut_metadata?: number } };
            utMetadata = hs.m?.ut_metadata ?? 0;
          } catch {
            // not our concern
          }
          continue;
        }
        if (msg[1] !== 3 || utMetadata === 0) continue;
        let piece = 0;
        try {
          piece = (bencode.decode(msg.subarray(2)) as { piece: number }).piece;
        } catch {
          continue;
        }
        answer(piece);
      }
    };

    const answer = (piece: number): void => {
      const info = Buffer.from(options.info ?? new Uint8Array(0));
      const size = info.length;
      const data = info.subarray(piece * 16384, Math.min(size, (piece + 1) * 16384));
      let header: Record<string, number> = { msg_type: 1, piece, total_size: size };
      let body: Uint8Array = data;
      if (mode === 'meta-wrong-piece-length') body = data.subarray(0, Math.max(0, data.length - 1));
      else if (mode === 'meta-wrong-total-size') header = { msg_type: 1, piece, total_size: size + 1 };
      else if (mode === 'meta-bad-sha1') body = Buffer.from(data).fill(0x20, 1, Math.min(data.length - 1, 64));
      else if (mode === 'meta-out-of-range-piece') header = { msg_type: 1, piece: 999, total_size: size };
      write(extended(utMetadata, Buffer.concat([bencode.encode(header), body])));
    };
  });

  server.listen({ host: options.host, port: options.port ?? 0 });
  await once(server, 'listening');
  return {
    host: options.host,
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    get bytesSent() {
      return bytesSent;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
