import { once } from 'node:events';
import net from 'node:net';
import Wire from 'bittorrent-protocol';
import utMetadata from 'ut_metadata';
import { MseResponder } from '../../src/protocol/mse/mse-responder.js';
import { loadUtp } from '../../src/capture/utp-socket.js';

/**
 * A synthetic BitTorrent peer for tests and benchmarks: one TCP server on a loopback address,
 * speaking the peer wire with bittorrent-protocol (and serving metadata with ut_metadata), or
 * misbehaving on purpose. Light enough for thousands per process: one net.Server, and per
 * connection one Wire and at most one timer.
 */
export interface WirePeerServerOptions {
  /** Loopback address to listen on (127.x.y.z). */
  host: string;
  /** 0 or omitted: a random free port. */
  port?: number;
  /** Infohash, hex. */
  infohash: string;
  /** 20 characters, e.g. '-qB4650-' + 12 characters. */
  peerId: string;
  /** BEP 10 `v`; omitted: no `v` in the extended handshake. */
  extendedVersion?: string;
  pieceCount: number;
  /**
   * What the bitfield says. Indexes at or beyond pieceCount that still fall in the last byte
   * set spare bits (a BEP 3 violation, for tests). 'none' without the fast extension sends no
   * bitfield at all (BEP 3 allows that).
   */
  have: 'all' | 'none' | number[];
  /** Advertise BEP 6, and send have_all / have_none when the other side advertises it too. */
  useFastExtension: boolean;
  /**
   * Delay between our handshake and the bitfield / have_all / have_none (default 0), as real
   * clients do (Transmission sends its extended handshake first and its bitfield ~500 ms later).
   */
  pieceStateDelayMs?: number;
  /** HAVE messages sent after the bitfield. */
  haves?: number[];
  /** Delay before each HAVE (default 0: all right after the bitfield). */
  haveIntervalMs?: number;
  /** Bencoded info dictionary, served with ut_metadata (BEP 9). */
  metadata?: Uint8Array;
  misbehave?: 'wrong-infohash' | 'garbage' | 'silent' | 'close-after-handshake' | 'huge-message' | 'bad-bitfield';
  /**
   * 'required': speaks MSE/PE only (RC4, as libtorrent with `forced` / Transmission with
   * `encryption: 2`), and closes a connection that opens with a plaintext handshake. Transcripts
   * then hold the decrypted bytes. 'refused': closes a connection that does not open with a
   * plaintext handshake (as clients with encryption disabled do with an MSE key exchange).
   */
  encryption?: 'required' | 'refused';
  /** Keep every byte sent and received per connection (see `transcripts()`). */
  record?: boolean;
  /** 'utp': listens over uTP (BEP 29, utp-native) instead of TCP: a peer that takes no TCP. */
  transport?: 'tcp' | 'utp';
  /**
   * What this peer writes within one turn of the event loop leaves in one TCP write, as libtorrent
   * and Transmission send (a send buffer filled per event, flushed once). Without it every Wire
   * message is a write of its own and Nagle holds all but the first until the other side ACKs: an
   * MSE peer's step 4 then goes alone and its handshake waits for the capturer's delayed ACK
   * (40-48 ms on Linux loopback), which real clients do not make a capturer wait.
   */
  coalesceWrites?: boolean;
}

export interface Transcript {
  sent: Buffer;
  received: Buffer;
}

export interface WirePeerServer {
  host: string;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes sent and received on each connection, in accept order (with `record: true`). */
  transcripts(): Transcript[];
  close(): Promise<void>;
}

const GARBAGE = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n');
const HUGE_LENGTH = 2 * 1024 * 1024;
const PSTR = Buffer.from('\u0013BitTorrent protocol', 'latin1');

function buildBitfield(pieceCount: number, have: 'all' | number[]): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(pieceCount / 8));
  const indexes = have === 'all' ? Array.from({ length: pieceCount }, (_, i) => i) : have;
  for (const i of indexes) {
    if (i >> 3 < bytes.length) bytes[i >> 3] = (bytes[i >> 3] as number) | (0x80 >> (i & 7));
  }
  return bytes;
}

export async function startWirePeerServer(options: WirePeerServerOptions): Promise<WirePeerServer> {
  const peerId = Buffer.from(options.peerId, 'latin1');
  if (peerId.length !== 20) throw new Error('peerId must be 20 characters');
  const infohash = options.infohash.toLowerCase();
  // Built once per server (the Wire copies it into each message): the benchmarks' swarms serve
  // thousands of connections from one process that shares the cores with the capturer measured.
  let bitfieldOf: Uint8Array | undefined;
  const bitfield = (): Uint8Array => (bitfieldOf ??= buildBitfield(options.pieceCount, options.have === 'none' ? [] : options.have));
  const wrongInfohash = infohash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const sockets = new Set<net.Socket>();
  const records: Array<{ sent: Buffer[]; received: Buffer[] }> = [];
  let accepted = 0;

  const onSocket = (socket: net.Socket): void => {
    accepted += 1;
    sockets.add(socket);
    const record = options.record === true ? { sent: [] as Buffer[], received: [] as Buffer[] } : undefined;
    if (record !== undefined) records.push(record);
    /** The connection's Wire and its one timer, released on close. */
    const conn: { wire?: Wire; timer?: NodeJS.Timeout } = {};
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      clearTimeout(conn.timer);
      conn.wire?.destroy();
    });
    const mse = options.encryption === 'required' ? new MseResponder({ infohashes: [Buffer.from(infohash, 'hex')] }) : undefined;
    let corked = false;
    /** Bytes to the socket as they are on the wire (encrypted, for MSE). */
    const send = (bytes: Uint8Array): void => {
      if (options.coalesceWrites === true && !corked) {
        corked = true;
        socket.cork();
        setImmediate(() => {
          corked = false;
          socket.uncork();
        });
      }
      socket.write(bytes);
    };
    const write = (chunk: Uint8Array): void => {
      if (socket.destroyed) return;
      record?.sent.push(Buffer.from(chunk));
      send(mse !== undefined ? mse.write(chunk) : chunk);
    };
    /** Runs `fn` once the Wire has flushed what it queued (it pushes a microtask later). */
    const afterFlush = (fn: () => void): void => {
      conn.timer = setTimeout(fn, 0);
    };

    if (options.misbehave === 'silent' || options.misbehave === 'garbage') {
      socket.on('data', (d: Buffer) => record?.received.push(d));
      if (options.misbehave === 'garbage') write(GARBAGE);
      return;
    }

    const w = new Wire('tcpIncoming');
    conn.wire = w;
    w.on('data', write);
    let first = true;
    socket.on('data', (d: Buffer) => {
      // Not a plaintext handshake: the first 20 bytes are not <19>'BitTorrent protocol' (a DH key
      // starting with byte 19, 1 in 256, is still dropped, as real clients drop it).
      if (first && options.encryption === 'refused' && !PSTR.subarray(0, Math.min(d.length, PSTR.length)).equals(d.subarray(0, PSTR.length))) {
        socket.destroy();
        return;
      }
      first = false;
      if (mse === undefined) {
        record?.received.push(d);
        w.write(d);
        return;
      }
      let out;
      try {
        out = mse.receive(d);
      } catch {
        socket.destroy();
        return;
      }
      if (mse.plaintextHandshake) {
        socket.destroy(); // encryption required: a plaintext handshake is dropped
        return;
      }
      if (out.send.length > 0) send(out.send);
      if (out.plain.length > 0) {
        record?.received.push(Buffer.from(out.plain));
        w.write(out.plain);
      }
    });
    if (options.extendedVersion !== undefined) w.extendedHandshake.v = options.extendedVersion;
    if (options.metadata !== undefined) w.use(utMetadata(options.metadata));

    w.on('handshake', () => {
      w.handshake(options.misbehave === 'wrong-infohash' ? wrongInfohash : infohash, peerId, {
        fast: options.useFastExtension,
      });
      if (options.misbehave === 'close-after-handshake') return afterFlush(() => socket.end());
      if (options.misbehave === 'huge-message') {
        const head = Buffer.alloc(5 + 1024);
        head.writeUInt32BE(HUGE_LENGTH, 0);
        head[4] = 7;
        return afterFlush(() => write(head));
      }
      if (options.misbehave === 'bad-bitfield') {
        w.bitfield(new Uint8Array(Math.ceil(options.pieceCount / 8) + 3).fill(0xff));
        return;
      }
      const announce = (): void => {
        if (socket.destroyed) return;
        if (options.have === 'all' || options.have === 'none') {
          if (w.hasFast) {
            if (options.have === 'all') w.haveAll();
            else w.haveNone();
          } else if (options.have === 'all') {
            w.bitfield(bitfield());
          }
        } else {
          w.bitfield(bitfield());
        }
        const haves = options.haves ?? [];
        const interval = options.haveIntervalMs ?? 0;
        if (interval <= 0) {
          for (const index of haves) w.have(index);
          return;
        }
        let next = 0;
        const sendNext = (): void => {
          if (next >= haves.length || socket.destroyed) return;
          w.have(haves[next++] as number);
          conn.timer = setTimeout(sendNext, interval);
        };
        conn.timer = setTimeout(sendNext, interval);
      };
      const delay = options.pieceStateDelayMs ?? 0;
      if (delay > 0) conn.timer = setTimeout(announce, delay);
      else announce();
    });
  };

  let server: { address(): unknown; close(cb?: () => void): void };
  if (options.transport === 'utp') {
    const utp = loadUtp().utp;
    if (utp === undefined) throw new Error(loadUtp().error);
    const u = utp.createServer((c) => onSocket(c as unknown as net.Socket));
    await new Promise<void>((resolve) => u.listen(options.port ?? 0, options.host, resolve));
    server = { address: () => u.address(), close: (cb) => { u.close(); cb?.(); } };
  } else {
    const t = net.createServer(onSocket);
    t.listen({ host: options.host, port: options.port ?? 0 });
    await once(t, 'listening');
    server = t;
  }
  const address = server.address() as net.AddressInfo;

  return {
    host: options.host,
    port: address.port,
    get accepted() {
      return accepted;
    },
    transcripts: () => records.map((r) => ({ sent: Buffer.concat(r.sent), received: Buffer.concat(r.received) })),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
