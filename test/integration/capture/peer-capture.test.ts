import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import bencode from 'bencode';
import { afterEach, describe, expect, it } from 'vitest';
import { capturePeer, makePeerId, type PeerCaptureOptions, type PeerCaptureOutcome } from '../../../src/capture/peer-capture.js';
import { ConversationRecorder } from '../../../src/pcap/conversation.js';
import { makeTorrent, type TorrentFixture } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer, type WirePeerServerOptions } from '../../helpers/wire-peer-server.js';

// Only loopback addresses, one per kind of peer, so distinct peers are distinct IPs.
const QB_ID = '-qB4650-abcdefghijkl';
const TR_ID = '-TR4060-abcdefghijkl';

const OPTIONS: PeerCaptureOptions = {
  connectTimeoutMs: 1000,
  handshakeTimeoutMs: 1000,
  idleTimeoutMs: 2000,
  totalTimeoutMs: 5000,
  haveWindowMs: 300,
  peerId: makePeerId(),
};

const servers: WirePeerServer[] = [];
const closers: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const close of closers.splice(0)) await close();
});

async function peer(
  host: string,
  torrent: TorrentFixture,
  options: Partial<WirePeerServerOptions> = {},
): Promise<WirePeerServer> {
  const server = await startWirePeerServer({
    host,
    infohash: torrent.infohash,
    peerId: QB_ID,
    pieceCount: torrent.pieceCount,
    have: 'all',
    useFastExtension: false,
    ...options,
  });
  servers.push(server);
  return server;
}

function capture(
  server: { host: string; port: number },
  torrent: TorrentFixture,
  input: { pieceCount?: number | null; fetchMetadata?: boolean; recorder?: ConversationRecorder } = {},
  options: Partial<PeerCaptureOptions> = {},
  signal?: AbortSignal,
): Promise<PeerCaptureOutcome> {
  return capturePeer(
    {
      ip: server.host,
      port: server.port,
      infohash: torrent.infohash,
      pieceCount: input.pieceCount === null ? undefined : (input.pieceCount ?? torrent.pieceCount),
      fetchMetadata: input.fetchMetadata ?? false,
      recorder: input.recorder,
    },
    { ...OPTIONS, ...options },
    signal,
  );
}

function ok(outcome: PeerCaptureOutcome): Extract<PeerCaptureOutcome, { ok: true }> {
  if (!outcome.ok) throw new Error(`capture failed: ${outcome.error}`);
  return outcome;
}

function failed(outcome: PeerCaptureOutcome): string {
  if (outcome.ok) throw new Error(`capture succeeded: ${JSON.stringify(outcome)}`);
  return outcome.error;
}

/** A hand-written peer for hostile byte sequences the helper does not produce. */
async function rawPeer(host: string, onConnection: (socket: net.Socket, handshake: Buffer) => void): Promise<{ host: string; port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let buf = Buffer.alloc(0);
    let done = false;
    socket.on('data', (d: Buffer) => {
      if (done) return;
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 68) {
        done = true;
        onConnection(socket, buf.subarray(0, 68));
      }
    });
  });
  server.listen({ host, port: 0 });
  await once(server, 'listening');
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { host, port: (server.address() as net.AddressInfo).port };
}

/** Our reply handshake for a raw peer: same infohash, BEP 10 bit, qBittorrent id. */
function replyHandshake(clientHandshake: Buffer, fast = false): Buffer {
  const reply = Buffer.from(clientHandshake);
  reply.fill(0, 20, 28);
  reply[25] = 0x10;
  if (fast) reply[27] = 0x04;
  reply.write(QB_ID, 48, 'latin1');
  return reply;
}

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

describe('capturePeer: piece availability', () => {
  it('reports a seeder that sends a full bitfield, without waiting for the HAVE window', async () => {
    const t = makeTorrent({ pieceCount: 40 });
    const s = await peer('127.0.1.1', t, { extendedVersion: 'qBittorrent/4.6.5' });
    const r = ok(await capture(s, t, {}, { haveWindowMs: 5000 }));
    expect(r).toMatchObject({ hasPieces: 40, pieceCount: 40, hasTotal: true, clientName: 'qBittorrent/4.6.5', extendedVersion: 'qBittorrent/4.6.5' });
    expect(r.peerIdHex).toBe(Buffer.from(QB_ID, 'latin1').toString('hex'));
    expect(r.durationMs).toBeLessThan(2500); // well before the 5 s window
    expect(r.metadata).toBeUndefined();
    expect(r.metadataError).toBeUndefined();
    expect(Math.abs(r.date - Date.now())).toBeLessThan(5000);
  });

  it('reports a seeder that sends have_all (both sides advertise BEP 6)', async () => {
    const t = makeTorrent({ pieceCount: 20 });
    const s = await peer('127.0.1.2', t, { useFastExtension: true });
    const r = ok(await capture(s, t));
    expect(r).toMatchObject({ hasPieces: 20, pieceCount: 20, hasTotal: true });
  });

  it('counts a 32/64 bitfield plus distinct in-range HAVEs received in the window', async () => {
    const t = makeTorrent({ pieceCount: 64 });
    const half = Array.from({ length: 32 }, (_, i) => i);
    const s = await peer('127.0.1.3', t, {
      have: half,
      // 40, 41, 42 are new; 40 again and 5 (already in the bitfield) are not; 64 and 1000 are out of range.
      haves: [40, 41, 40, 5, 64, 42, 1000],
      haveIntervalMs: 15,
    });
    const r = ok(await capture(s, t, {}, { haveWindowMs: 1000 }));
    expect(r).toMatchObject({ hasPieces: 35, pieceCount: 64, hasTotal: false, outOfRangeHaves: 2 });
    expect(r.durationMs).toBeGreaterThanOrEqual(995);
  });

  it('counts HAVEs that arrive after the window as not seen', async () => {
    const t = makeTorrent({ pieceCount: 16 });
    const s = await peer('127.0.1.4', t, { have: [0], haves: [1, 2], haveIntervalMs: 1500 });
    const r = ok(await capture(s, t, {}, { haveWindowMs: 200 }));
    expect(r.hasPieces).toBe(1);
  });

  it('starts the HAVE window at a bitfield that comes late, not at the handshake', async () => {
    // Transmission sends its bitfield ~500 ms after the handshake: with a 300 ms window counted from
    // the handshake, this seeder would be reported with 0 pieces.
    const t = makeTorrent({ pieceCount: 24 });
    const s = await peer('127.0.1.10', t, { pieceStateDelayMs: 700 });
    const r = ok(await capture(s, t, {}, { haveWindowMs: 300 }));
    expect(r).toMatchObject({ hasPieces: 24, hasTotal: true });
    expect(r.durationMs).toBeGreaterThanOrEqual(695);
  });

  it('counts HAVEs within the window that follows a late bitfield', async () => {
    const t = makeTorrent({ pieceCount: 16 });
    const s = await peer('127.0.1.11', t, { have: [0, 1], haves: [2, 3], haveIntervalMs: 100, pieceStateDelayMs: 600 });
    const r = ok(await capture(s, t, {}, { haveWindowMs: 500 }));
    expect(r).toMatchObject({ hasPieces: 4, hasTotal: false });
  });

  it('reports a peer that announces nothing as 0 pieces after pieceStateWaitMs', async () => {
    // have 'none' without BEP 6: no bitfield at all (allowed by BEP 3)
    const t = makeTorrent({ pieceCount: 12 });
    const s = await peer('127.0.1.12', t, { have: 'none' });
    const r = ok(await capture(s, t, {}, { haveWindowMs: 100, pieceStateWaitMs: 600, idleTimeoutMs: 3000 }));
    expect(r).toMatchObject({ hasPieces: 0, hasTotal: false });
    expect(r.durationMs).toBeGreaterThanOrEqual(595);
    expect(r.durationMs).toBeLessThan(2500);
  });

  it('reports have_none as 0 pieces', async () => {
    const t = makeTorrent({ pieceCount: 10 });
    const s = await peer('127.0.1.5', t, { have: 'none', useFastExtension: true });
    expect(ok(await capture(s, t))).toMatchObject({ hasPieces: 0, hasTotal: false, pieceCount: 10 });
  });

  it('reports a peer that sends no bitfield at all (BEP 3 allows it) as 0 pieces, HAVEs counted', async () => {
    const t = makeTorrent({ pieceCount: 10 });
    const s = await peer('127.0.1.6', t, { have: 'none', useFastExtension: false, haves: [3] });
    expect(ok(await capture(s, t))).toMatchObject({ hasPieces: 1, hasTotal: false });
  });

  it('handles a piece count that is not a multiple of 8', async () => {
    const t = makeTorrent({ pieceCount: 13 });
    const s = await peer('127.0.1.7', t, { have: 'all' });
    expect(ok(await capture(s, t))).toMatchObject({ hasPieces: 13, hasTotal: true });
    const partial = await peer('127.0.1.8', t, { have: [0, 7, 8, 12] });
    expect(ok(await capture(partial, t))).toMatchObject({ hasPieces: 4, hasTotal: false });
  });

  it('rejects a bitfield with spare bits set (BEP 3)', async () => {
    const t = makeTorrent({ pieceCount: 13 });
    const s = await peer('127.0.1.9', t, { have: [0, 1, 2, 14] });
    expect(failed(await capture(s, t))).toBe('bitfield: spare bits set');
  });

  it('rejects a bitfield of the wrong length', async () => {
    const t = makeTorrent({ pieceCount: 13 });
    const s = await peer('127.0.1.10', t, { misbehave: 'bad-bitfield' });
    expect(failed(await capture(s, t))).toBe('bitfield: wrong length for 13 pieces');
  });

  it('without a piece count, counts the bitfield as it comes', async () => {
    const t = makeTorrent({ pieceCount: 13 });
    const s = await peer('127.0.1.11', t, { have: [0, 1, 2] });
    expect(ok(await capture(s, t, { pieceCount: null }))).toMatchObject({ hasPieces: 3, pieceCount: undefined, hasTotal: false });
  });
});

describe('capturePeer: client names', () => {
  it('uses the extended handshake v when there is one', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.2.1', t, { extendedVersion: 'Transmission 4.0.6', peerId: TR_ID });
    expect(ok(await capture(s, t)).clientName).toBe('Transmission 4.0.6');
  });

  it('falls back to the peer id', async () => {
    const t = makeTorrent();
    const qb = await peer('127.0.2.2', t);
    const tr = await peer('127.0.2.3', t, { peerId: TR_ID });
    const [a, b] = await Promise.all([capture(qb, t), capture(tr, t)]);
    expect(ok(a)).toMatchObject({ clientName: 'qBittorrent 4.6.5' });
    expect(ok(a).extendedVersion).toBeUndefined();
    expect(ok(b)).toMatchObject({ clientName: 'Transmission 4.0.6' });
  });
});

describe('capturePeer: failures', () => {
  it('wrong infohash in the handshake', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.1', t, { misbehave: 'wrong-infohash' });
    expect(failed(await capture(s, t))).toBe('handshake: wrong infohash');
  });

  it('a peer that does not speak BitTorrent', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.2', t, { misbehave: 'garbage' });
    const r = await capture(s, t);
    expect(failed(r)).toBe('handshake: not BitTorrent');
    expect(r.durationMs).toBeLessThan(OPTIONS.handshakeTimeoutMs);
  });

  it('a silent peer: handshake timeout', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.3', t, { misbehave: 'silent' });
    const r = await capture(s, t, {}, { handshakeTimeoutMs: 200 });
    expect(failed(r)).toBe('handshake timeout');
    expect(r.durationMs).toBeGreaterThanOrEqual(195);
    expect(r.durationMs).toBeLessThan(OPTIONS.idleTimeoutMs);
  });

  it('idle before the handshake completes', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.3.4', (socket, hs) => socket.write(replyHandshake(hs).subarray(0, 30)));
    expect(failed(await capture(s, t, {}, { idleTimeoutMs: 200, handshakeTimeoutMs: 2000 }))).toBe('idle timeout');
  });

  it('total timeout before the handshake completes', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.5', t, { misbehave: 'silent' });
    expect(failed(await capture(s, t, {}, { totalTimeoutMs: 150 }))).toBe('total timeout');
  });

  it('a closed port: connection refused', async () => {
    const t = makeTorrent();
    const probe = net.createServer().listen({ host: '127.0.3.6', port: 0 });
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const r = await capture({ host: '127.0.3.6', port }, t);
    expect(failed(r)).toBe('connection refused');
  });

  it('a peer that closes right after its handshake', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.7', t, { misbehave: 'close-after-handshake' });
    expect(failed(await capture(s, t))).toBe('peer closed the connection');
  });

  it('a peer that resets the connection before saying anything useful', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.3.8', (socket) => socket.resetAndDestroy());
    expect(failed(await capture(s, t))).toMatch(/^(connection reset|peer closed the connection)$/);
  });

  it('a peer that closes after its bitfield still gets its report', async () => {
    const t = makeTorrent({ pieceCount: 8 });
    const s = await rawPeer('127.0.3.9', (socket, hs) => {
      socket.end(Buffer.concat([replyHandshake(hs), message(5, Buffer.from([0xf0]))]));
    });
    expect(ok(await capture(s, t))).toMatchObject({ hasPieces: 4, hasTotal: false });
  });

  it('a message longer than 1 MiB', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.10', t, { misbehave: 'huge-message' });
    expect(failed(await capture(s, t))).toBe('protocol: message too long');
  });

  it('have_all from a peer that did not advertise BEP 6', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.3.11', (socket, hs) => socket.write(Buffer.concat([replyHandshake(hs, false), message(14)])));
    expect(failed(await capture(s, t))).toBe('protocol: have_all without the fast extension');
  });

  it('a malformed fixed-length message', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.3.12', (socket, hs) => socket.write(Buffer.concat([replyHandshake(hs), message(4, Buffer.from([0, 1]))])));
    expect(failed(await capture(s, t))).toBe('protocol: malformed have message');
  });

  it('aborted by the caller', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.3.13', t, { misbehave: 'silent' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const r = await capture(s, t, {}, {}, controller.signal);
    expect(failed(r)).toBe('aborted');
    expect(r.durationMs).toBeLessThan(OPTIONS.handshakeTimeoutMs);
    const already = AbortSignal.abort();
    expect(failed(await capture(s, t, {}, {}, already))).toBe('aborted');
  });

  it('invalid input is reported, not thrown', async () => {
    const t = makeTorrent();
    const r = await capturePeer({ ip: 'not-an-ip', port: 1, infohash: t.infohash, fetchMetadata: false }, OPTIONS);
    expect(failed(r)).toMatch(/^invalid capture input/);
  });
});

describe('capturePeer: connect timeout', () => {
  /**
   * A true connect timeout on loopback: a listener with a backlog of 1 in a stopped child
   * process. The kernel completes handshakes into the accept queue until it is full, then drops
   * SYNs, so the next connect hangs (Linux: tcp_conn_request drops on a full accept queue).
   */
  async function stoppedListener(host: string): Promise<{ port: number; child: ChildProcess; fillers: net.Socket[] }> {
    const script = `const s=require('net').createServer().listen({host:'${host}',port:0,backlog:1},()=>console.log(s.address().port))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    process.kill(child.pid as number, 'SIGSTOP');
    const fillers: net.Socket[] = [];
    for (let i = 0; i < 8; i++) {
      const filler = net.connect({ host, port });
      filler.on('error', () => undefined);
      fillers.push(filler);
      const connected = await Promise.race([
        once(filler, 'connect').then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
      ]);
      if (!connected) break;
    }
    return { port, child, fillers };
  }

  it.runIf(process.platform === 'linux')('a peer whose accept queue is full: connect timeout', async () => {
    const t = makeTorrent();
    const host = '127.0.4.1';
    const { port, child, fillers } = await stoppedListener(host);
    closers.push(() => {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
    });
    const r = await capture({ host, port }, t, {}, { connectTimeoutMs: 250 });
    expect(failed(r)).toBe('connect timeout');
    expect(r.durationMs).toBeGreaterThanOrEqual(245);
    expect(r.durationMs).toBeLessThan(OPTIONS.handshakeTimeoutMs);
  });
});

describe('capturePeer: hostile extended handshakes and BEP 9 messages', () => {
  it('a negative bencode length (bencode 4 would loop forever) ends the capture', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.5.1', (socket, hs) => socket.write(Buffer.concat([replyHandshake(hs), extended(0, Buffer.from('d-3:'))])));
    expect(failed(await capture(s, t))).toBe('protocol: extended handshake invalid');
  });

  it('a __proto__ key (bittorrent-protocol would throw out of its parser) ends the capture', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.5.2', (socket, hs) =>
      socket.write(Buffer.concat([replyHandshake(hs), extended(0, Buffer.from('d1:md1:xd9:__proto__0:eeee'))])),
    );
    expect(failed(await capture(s, t))).toBe('protocol: extended handshake invalid');
  });

  it('an extended handshake over 64 KiB ends the capture', async () => {
    const t = makeTorrent();
    const big = Buffer.from(bencode.encode({ v: 'x'.repeat(70 * 1024) }));
    const s = await rawPeer('127.0.5.3', (socket, hs) => socket.write(Buffer.concat([replyHandshake(hs), extended(0, big)])));
    expect(failed(await capture(s, t))).toBe('protocol: extended handshake too long');
  });

  it('a metadata piece with an out-of-range index ends the fetch with its index; the rest is reported', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.5.4', (socket, hs) => {
      const ext = Buffer.from(bencode.encode({ m: { ut_metadata: 3 }, metadata_size: t.info.length, v: 'evil/1.0' }));
      socket.write(Buffer.concat([replyHandshake(hs), extended(0, ext), message(5, Buffer.from([0xf0]))]));
      socket.on('data', () => {
        // Answer every request with data for piece 999 (ut_metadata would throw a RangeError).
        const head = Buffer.from(bencode.encode({ msg_type: 1, piece: 999, total_size: t.info.length }));
        socket.write(extended(1, Buffer.concat([head, Buffer.alloc(100)])));
      });
    });
    const r = ok(await capture(s, t, { fetchMetadata: true, pieceCount: null }, { totalTimeoutMs: 800, haveWindowMs: 100 }));
    expect(r.metadataError).toBe('metadata: piece 999 out of range (1 pieces)');
    expect(r.notes?.[0]).toBe('metadata: piece 999 out of range (1 pieces)');
    expect(r.hasPieces).toBe(4);
    expect(r.durationMs).toBeLessThan(1500);
  });
});

describe('capturePeer: metadata (BEP 9, served by ut_metadata)', () => {
  it('fetches, verifies and parses the metadata; then counts the bitfield with the piece count it gives', async () => {
    // 2000 pieces: an info dictionary of ~40 KB, i.e. three 16 KiB metadata pieces.
    const t = makeTorrent({ pieceCount: 2000 });
    const have = Array.from({ length: 1500 }, (_, i) => i + 100); // pieces 100..1599
    const s = await peer('127.0.6.1', t, { metadata: t.info, have, haves: [0, 1, 2000] });
    const r = ok(await capture(s, t, { fetchMetadata: true, pieceCount: null }));
    expect(r.metadataError).toBeUndefined();
    expect(r.metadata?.infohash).toBe(t.infohash);
    expect(r.metadata?.name).toBe(t.name);
    expect(r.metadata?.pieceCount).toBe(2000);
    expect(r.metadata?.info.equals(t.info)).toBe(true);
    expect(r).toMatchObject({ pieceCount: 2000, hasPieces: 1502, hasTotal: false, outOfRangeHaves: 1 });
  });

  it('a seeder: metadata and have_all, reported as soon as both are in', async () => {
    const t = makeTorrent({ pieceCount: 30 });
    const s = await peer('127.0.6.2', t, { metadata: t.info, useFastExtension: true });
    const r = ok(await capture(s, t, { fetchMetadata: true, pieceCount: null }, { haveWindowMs: 5000 }));
    expect(r).toMatchObject({ pieceCount: 30, hasPieces: 30, hasTotal: true });
    expect(r.metadata?.infohash).toBe(t.infohash);
    expect(r.durationMs).toBeLessThan(2500); // well before the 5 s window
  });

  it('metadata whose SHA-1 is not the infohash: metadataError, the rest reported', async () => {
    const t = makeTorrent({ pieceCount: 16 });
    const other = makeTorrent({ pieceCount: 16 });
    const s = await peer('127.0.6.3', t, { metadata: other.info, have: [0, 1, 2] });
    const r = ok(await capture(s, t, { fetchMetadata: true, pieceCount: null }));
    expect(r.metadataError).toBe('metadata: SHA-1 does not match the infohash');
    expect(r.metadata).toBeUndefined();
    expect(r).toMatchObject({ hasPieces: 3, pieceCount: undefined, hasTotal: false });
  });

  it('refuses metadata_size above the cap before requesting anything', async () => {
    const t = makeTorrent({ pieceCount: 100 });
    const s = await peer('127.0.6.4', t, { metadata: t.info, record: true });
    const r = ok(await capture(s, t, { fetchMetadata: true }, { maxMetadataBytes: 1000 }));
    expect(r.metadataError).toBe(`metadata: size ${t.info.length} bytes exceeds the cap of 1000`);
    const [transcript] = s.transcripts();
    expect(transcript?.received.includes(Buffer.from('msg_typei0e'))).toBe(false);
  });

  it('a peer without ut_metadata', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.6.5', t);
    expect(ok(await capture(s, t, { fetchMetadata: true })).metadataError).toBe('metadata: peer does not offer ut_metadata');
  });

  it('a peer that rejects the request', async () => {
    const t = makeTorrent();
    const s = await rawPeer('127.0.6.6', (socket, hs) => {
      const ext = Buffer.from(bencode.encode({ m: { ut_metadata: 2 }, metadata_size: t.info.length }));
      socket.write(Buffer.concat([replyHandshake(hs), extended(0, ext)]));
      socket.on('data', () => socket.write(extended(1, Buffer.from(bencode.encode({ msg_type: 2, piece: 0 })))));
    });
    const r = ok(await capture(s, t, { fetchMetadata: true }));
    expect(r.metadataError).toBe('metadata: peer rejected the request');
  });
});

describe('capturePeer: conversation recording', () => {
  it('records exactly the bytes exchanged, in both directions', async () => {
    const t = makeTorrent({ pieceCount: 64 });
    const s = await peer('127.0.7.1', t, { have: [1, 2, 3], haves: [10, 11], extendedVersion: 'qBittorrent/4.6.5', record: true });
    const recorder = new ConversationRecorder({ ip: '127.0.0.1', port: 0 }, { ip: s.host, port: s.port });
    const r = ok(await capture(s, t, { recorder }, { haveWindowMs: 200 }));
    expect(r.hasPieces).toBe(5);
    const events = recorder.conversation.events;
    expect(events[0]?.kind).toBe('connect');
    expect(events.at(-1)).toMatchObject({ kind: 'fin', dir: 'out' });
    const bytes = (dir: 'in' | 'out'): Buffer =>
      Buffer.concat(events.flatMap((e) => (e.kind === 'data' && e.dir === dir ? [Buffer.from(e.data)] : [])));
    // The server may still be reading our last bytes: wait until it has them all.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !s.transcripts()[0]?.received.equals(bytes('out'))) await new Promise((res) => setTimeout(res, 10));
    const [transcript] = s.transcripts();
    expect(bytes('in').equals(transcript?.sent as Buffer)).toBe(true);
    expect(bytes('out').equals(transcript?.received as Buffer)).toBe(true);
    // Our handshake: BEP 10 and BEP 6 bits, the infohash, our peer id; then the extended handshake.
    const out = bytes('out');
    expect(out[0]).toBe(19);
    expect(out.subarray(1, 20).toString('latin1')).toBe('BitTorrent protocol');
    expect((out[25] as number) & 0x10).toBe(0x10);
    expect((out[27] as number) & 0x04).toBe(0x04);
    expect(out.subarray(28, 48).toString('hex')).toBe(t.infohash);
    expect(out.subarray(48, 68).equals(Buffer.from(OPTIONS.peerId))).toBe(true);
    expect(out[72]).toBe(20);
    expect(out[73]).toBe(0);
    const ext = bencode.decode(out.subarray(74)) as { m: { ut_metadata: number }; v: Uint8Array; metadata_size?: number };
    expect(ext.m.ut_metadata).toBeGreaterThan(0);
    expect(Buffer.from(ext.v).toString()).toMatch(/^capture-daemon\//);
    expect(ext.metadata_size).toBeUndefined();
    // We never ask for pieces: no interested (2) or request (6) message after the handshakes.
    expect(out.length).toBe(68 + 4 + Number(out.readUInt32BE(68)));
    // The local endpoint is filled in once connected.
    expect(recorder.conversation.local.port).toBeGreaterThan(0);
  });

  it('binds to localAddress when given', async () => {
    const t = makeTorrent();
    const s = await peer('127.0.7.3', t);
    const recorder = new ConversationRecorder({ ip: '0.0.0.0', port: 0 }, { ip: s.host, port: s.port });
    ok(await capture(s, t, { recorder }, { localAddress: '127.0.7.4' }));
    expect(recorder.conversation.local.ip).toBe('127.0.7.4');
  });

  it('records a refused connection as a reset', async () => {
    const t = makeTorrent();
    const probe = net.createServer().listen({ host: '127.0.7.2', port: 0 });
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const recorder = new ConversationRecorder({ ip: '127.0.0.1', port: 0 }, { ip: '127.0.7.2', port });
    expect(failed(await capture({ host: '127.0.7.2', port }, t, { recorder }))).toBe('connection refused');
    expect(recorder.conversation.events.map((e) => e.kind)).toEqual(['reset']);
  });
});

describe('capturePeer: many at once', () => {
  const resourceCounts = (): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
    return counts;
  };

  it('200 concurrent captures against 20 peers finish and leave no sockets or timers behind', async () => {
    const t = makeTorrent({ pieceCount: 64 });
    const kinds: Array<Partial<WirePeerServerOptions>> = [
      { have: 'all' },
      { have: 'all', useFastExtension: true },
      { have: [0, 1, 2, 3], haves: [4, 5], haveIntervalMs: 20 },
      { have: 'none', useFastExtension: true },
      { misbehave: 'silent' },
      { misbehave: 'wrong-infohash' },
      { misbehave: 'garbage' },
      { misbehave: 'huge-message' },
      { metadata: t.info },
      { misbehave: 'close-after-handshake' },
    ];
    const peers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => peer(`127.0.8.${i + 1}`, t, kinds[i % kinds.length] as Partial<WirePeerServerOptions>)),
    );
    await new Promise((res) => setTimeout(res, 50));
    const before = resourceCounts();
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const server = peers[i % peers.length] as WirePeerServer;
        return capture(server, t, { fetchMetadata: i % 2 === 0 }, { handshakeTimeoutMs: 2000, idleTimeoutMs: 4000, totalTimeoutMs: 8000, haveWindowMs: 150 });
      }),
    );
    expect(outcomes).toHaveLength(200);
    const okCount = outcomes.filter((o) => o.ok).length;
    expect(okCount).toBe(100); // 10 of the 20 peers behave
    const errors = new Set(outcomes.flatMap((o) => (o.ok ? [] : [o.error])));
    expect([...errors].sort()).toEqual(
      ['handshake timeout', 'handshake: not BitTorrent', 'handshake: wrong infohash', 'peer closed the connection', 'protocol: message too long'].sort(),
    );
    const fetched = outcomes.filter((o) => o.ok && o.metadata !== undefined).length;
    expect(fetched).toBe(20); // the two metadata peers are always on even captures
    // Server-side sockets close a moment after ours: wait for the counts to settle.
    let after = resourceCounts();
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && ((after.TCPSocketWrap ?? 0) > (before.TCPSocketWrap ?? 0) || (after.Timeout ?? 0) > (before.Timeout ?? 0))) {
      await new Promise((res) => setTimeout(res, 20));
      after = resourceCounts();
    }
    expect(after.TCPSocketWrap ?? 0).toBeLessThanOrEqual(before.TCPSocketWrap ?? 0);
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
  });
});
