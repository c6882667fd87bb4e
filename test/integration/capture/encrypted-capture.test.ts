import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Wire from 'bittorrent-protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CaptureOutcomes } from '../../../src/capture/capture-outcomes.js';
import { EncryptionMemory, captureWithEncryption, type EncryptedCaptureOutcome, type EncryptionMode } from '../../../src/capture/encrypted-capture.js';
import { capturePeer, handshakeBytes, makePeerId, type PeerCaptureOptions } from '../../../src/capture/peer-capture.js';
import { MseInitiator } from '../../../src/protocol/mse/mse-initiator.js';
import { ConversationRecorder } from '../../../src/pcap/conversation.js';
import { writePcapFile } from '../../../src/pcap/pcap-file.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent, type TorrentFixture } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer, type WirePeerServerOptions } from '../../helpers/wire-peer-server.js';
import { TSHARK_PATH, tsharkFields } from '../../unit/pcap/tshark.js';

/**
 * Captures over MSE/PE against synthetic peers that require encryption (our responder: RC4 only,
 * a plaintext handshake is dropped) and peers that do not speak it (bittorrent-protocol's plain
 * Wire), with each `capture.encryption` mode. Loopback only.
 */
const OPTIONS: PeerCaptureOptions = {
  connectTimeoutMs: 1000,
  handshakeTimeoutMs: 1000,
  idleTimeoutMs: 2000,
  totalTimeoutMs: 5000,
  haveWindowMs: 200,
  peerId: makePeerId(),
};

const servers: WirePeerServer[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const c of cleanups.splice(0)) c();
});

async function peer(host: string, torrent: TorrentFixture, options: Partial<WirePeerServerOptions> = {}): Promise<WirePeerServer> {
  const server = await startWirePeerServer({
    host,
    infohash: torrent.infohash,
    peerId: '-TR3000-abcdefghijkl',
    extendedVersion: 'Transmission 3.00',
    pieceCount: torrent.pieceCount,
    have: 'all',
    useFastExtension: true,
    ...options,
  });
  servers.push(server);
  return server;
}

function capture(
  server: WirePeerServer,
  torrent: TorrentFixture,
  mode: EncryptionMode,
  extra: { recorder?: ConversationRecorder; fetchMetadata?: boolean } = {},
): Promise<EncryptedCaptureOutcome> {
  const fetchMetadata = extra.fetchMetadata ?? false;
  return captureWithEncryption(
    {
      ip: server.host,
      port: server.port,
      infohash: torrent.infohash,
      pieceCount: fetchMetadata ? undefined : torrent.pieceCount,
      fetchMetadata,
      recorder: extra.recorder,
    },
    mode,
    (input, signal) => capturePeer(input, OPTIONS, signal),
    new AbortController().signal,
  );
}

describe('capture of a peer that requires encryption', () => {
  it('prefer-plain: the plain handshake is dropped, the encrypted retry captures it; the pcap keeps the decrypted conversation with a note', async () => {
    const t = makeTorrent({ pieceCount: 24 });
    const server = await peer('127.41.0.1', t, { encryption: 'required', have: [0, 1, 2, 5] });
    const recorder = new ConversationRecorder({ ip: '0.0.0.0', port: 0 }, { ip: server.host, port: server.port });
    const o = await capture(server, t, 'prefer-plain', { recorder });
    expect(o.ok, JSON.stringify(o)).toBe(true);
    if (!o.ok) return;
    expect(o.encryption).toBe('mse-rc4');
    expect(['PEER_CLOSED', 'CONNECTION_RESET']).toContain(o.retried?.code);
    expect(o.retried?.encryption).toBe('none');
    expect(o.hasPieces).toBe(4);
    expect(o.clientName).toBe('Transmission 3.00');
    expect(server.accepted).toBe(2);

    // Only the encrypted attempt's conversation, decrypted.
    const conv = recorder.conversation;
    expect(conv.events.filter((e) => e.kind === 'connect')).toHaveLength(1);
    const inBytes = Buffer.concat(conv.events.flatMap((e) => (e.kind === 'data' && e.dir === 'in' ? [e.data] : [])));
    const outBytes = Buffer.concat(conv.events.flatMap((e) => (e.kind === 'data' && e.dir === 'out' ? [e.data] : [])));
    expect(inBytes.subarray(0, 20).toString('latin1')).toBe('\u0013BitTorrent protocol');
    expect(inBytes.subarray(28, 48).toString('hex')).toBe(t.infohash);
    expect(outBytes.subarray(0, 20).toString('latin1')).toBe('\u0013BitTorrent protocol');
    expect(conv.note).toMatch(/^MSE\/PE \(RC4-drop1024 payload\).*a first plain attempt failed: (peer closed the connection|connection reset)$/);

    // Written as pcapng with the note as its comment; tshark decodes the BitTorrent handshake.
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const file = path.join(dir, 'mse.pcap');
    await writePcapFile(file, conv);
    const bytes = readFileSync(file);
    expect(bytes.readUInt32LE(0)).toBe(0x0a0d0d0a);
    expect(bytes.includes(Buffer.from('MSE/PE (RC4-drop1024 payload)'))).toBe(true);
    if (TSHARK_PATH) {
      const rows = await tsharkFields(file, server.port, ['bittorrent.info_hash', 'frame.comment', 'pkt_comment']);
      const hashes = rows.flatMap((r) => r['bittorrent.info_hash'] ?? []).filter((h) => h !== '');
      expect(hashes.map((h) => h.replace(/:/g, ''))).toEqual([t.infohash, t.infohash]);
    }
  });

  it('fetches metadata (BEP 9) through the encrypted stream', async () => {
    const t = makeTorrent({ pieceCount: 6 });
    const server = await peer('127.41.0.2', t, { encryption: 'required', metadata: t.info });
    const o = await capture(server, t, 'encrypted-only', { fetchMetadata: true });
    expect(o.ok, JSON.stringify(o)).toBe(true);
    if (!o.ok) return;
    expect(o.encryption).toBe('mse-rc4');
    expect(o.retried).toBeUndefined();
    expect(o.metadata?.pieceCount).toBe(6);
    expect(server.accepted).toBe(1);
  });

  it('plain-only: dropped, and the reason says so (no retry); the dropped attempt built no Wire', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.0.3', t, { encryption: 'required' });
    // The server's own Wire handshakes only after ours; the capture's Wire is built only when
    // the peer's handshake arrives, so a dropped attempt makes none.
    const handshakes = vi.spyOn(Wire.prototype, 'handshake');
    cleanups.push(() => handshakes.mockRestore());
    const o = await capture(server, t, 'plain-only');
    expect(handshakes).not.toHaveBeenCalled();
    expect(o.ok).toBe(false);
    if (o.ok) return;
    expect(o.encryption).toBe('none');
    expect(['PEER_CLOSED', 'CONNECTION_RESET']).toContain(o.code);
    expect(o.failedIn).toBe('handshaking');
    expect(server.accepted).toBe(1);
  });
});

describe('encryption modes against a peer without encryption', () => {
  it('prefer-plain: one plain attempt', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.0.4', t);
    const o = await capture(server, t, 'prefer-plain');
    expect(o.ok && o.encryption).toBe('none');
    expect(server.accepted).toBe(1);
  });

  it('encrypted-only and prefer-encrypted: a peer that waits silently on our DH key times out, and a timeout is not retried', async () => {
    // bittorrent-protocol's plain Wire keeps waiting for a handshake after 96+ bytes of DH key
    // (real clients close): a timeout is not retried, it would double every silent peer's cost.
    const t = makeTorrent();
    const server = await peer('127.41.0.5', t);
    for (const mode of ['encrypted-only', 'prefer-encrypted'] as const) {
      const o = await capture(server, t, mode);
      expect(o.ok).toBe(false);
      if (o.ok) return;
      expect(o.code).toBe('HANDSHAKE_TIMEOUT');
      expect(o.encryption).toBe('mse');
      expect(o.retried).toBeUndefined();
    }
    expect(server.accepted).toBe(2);
  });

  it('prefer-encrypted: a peer that drops our DH key is captured by the plain retry', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.0.6', t, { encryption: 'refused' });
    const o = await capture(server, t, 'prefer-encrypted');
    expect(o.ok, JSON.stringify(o)).toBe(true);
    expect(o.encryption).toBe('none');
    expect(o.retried?.encryption).toBe('mse');
    expect(['PEER_CLOSED', 'CONNECTION_RESET']).toContain(o.retried?.code);
    expect(server.accepted).toBe(2);
  });
});

describe('failure reasons of real connections (capture-outcomes)', () => {
  it('refused, dropped before / reset after the handshake, wrong infohash, choked-and-silent, encryption required', async () => {
    const t = makeTorrent({ pieceCount: 8 });
    const closed = await peer('127.41.1.1', t);
    await closed.close(); // nothing listens there any more
    const afterHandshake = await peer('127.41.1.2', t, { misbehave: 'close-after-handshake' });
    const wrong = await peer('127.41.1.3', t, { misbehave: 'wrong-infohash' });
    const required = await peer('127.41.1.4', t, { encryption: 'required' });
    // Completes the handshake (from the infohash we sent), then says nothing at all.
    const silentServer = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (d: Buffer) => {
        const reply = Buffer.from(d.subarray(0, 68));
        reply.fill(0, 20, 28);
        reply.write('-TR3000-silentsilent', 48, 'latin1');
        socket.write(reply);
      });
    });
    silentServer.listen({ host: '127.41.1.5', port: 0 });
    await once(silentServer, 'listening');
    cleanups.push(() => silentServer.close());
    const silent = { host: '127.41.1.5', port: (silentServer.address() as net.AddressInfo).port } as WirePeerServer;

    const stats = new CaptureOutcomes();
    const reasons: Record<string, string> = {};
    for (const [name, server, mode] of [
      ['refused', closed, 'prefer-plain'],
      ['after-handshake', afterHandshake, 'prefer-plain'],
      ['wrong', wrong, 'prefer-plain'],
      ['required', required, 'prefer-plain'],
      ['required-plain-only', required, 'plain-only'],
      ['silent', silent, 'prefer-plain'],
    ] as const) {
      reasons[name] = stats.add(await capture(server, t, mode));
    }
    expect(reasons).toEqual({
      refused: 'connect-refused',
      'after-handshake': 'reset-after-handshake',
      wrong: 'wrong-infohash',
      required: 'encryption-required',
      'required-plain-only': 'dropped-before-handshake',
      silent: 'choked-and-silent',
    });
    const snap = stats.snapshot();
    expect(snap.byClient.Transmission).toEqual({ 'reset-after-handshake': 1, 'encryption-required': 1, 'choked-and-silent': 1 });
    expect(snap.byTransport['tcp+mse']).toEqual({ attempts: 1, captured: 1 });
  });
});

/** One capture of `server` through captureWithEncryption in `mode`, with `memory`. */
function captureRemembering(server: WirePeerServer, t: TorrentFixture, mode: EncryptionMode, memory: EncryptionMemory): Promise<EncryptedCaptureOutcome> {
  return captureWithEncryption(
    { ip: server.host, port: server.port, infohash: t.infohash, pieceCount: t.pieceCount, fetchMetadata: false },
    mode,
    (input, signal) => capturePeer(input, OPTIONS, signal),
    new AbortController().signal,
    memory,
  );
}

describe('peers remembered as requiring or refusing encryption', () => {
  it('prefer-plain: the second capture of a peer that required encryption goes encrypted first (one connection, not two)', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.2.1', t, { encryption: 'required' });
    const memory = new EncryptionMemory();
    const run = (): Promise<EncryptedCaptureOutcome> => captureRemembering(server, t, 'prefer-plain', memory);
    const first = await run();
    expect(first.ok && first.encryption).toBe('mse-rc4');
    expect(server.accepted).toBe(2);
    expect(memory.requires(server.host, server.port)).toBe(true);
    const second = await run();
    expect(second.ok && second.encryption).toBe('mse-rc4');
    expect(second.retried).toBeUndefined();
    expect(server.accepted).toBe(3);
  });

  it('each capture the remembered way confirms the peer: its 24 h start again, so daily recaptures never pay the dropped attempt', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.2.6', t, { encryption: 'required' });
    const memory = new EncryptionMemory(10, 24 * 3_600_000);
    const day = 24 * 3_600_000;
    // Remembered 20 h ago: still known, dialled encrypted first, and confirmed now.
    memory.remember(server.host, server.port, Date.now() - 20 * 3_600_000);
    const o = await captureRemembering(server, t, 'prefer-plain', memory);
    expect(o.ok && o.encryption).toBe('mse-rc4');
    expect(o.retried).toBeUndefined();
    expect(server.accepted).toBe(1);
    // 20 h from now (40 h after it was first remembered) it is still known: the TTL started again.
    expect(memory.requires(server.host, server.port, Date.now() + 20 * 3_600_000)).toBe(true);
    expect(memory.requires(server.host, server.port, Date.now() + day + 60_000)).toBe(false);
    // A failed capture (the peer gone) confirms nothing.
    await server.close();
    memory.remember(server.host, server.port, Date.now() - 20 * 3_600_000);
    const gone = await captureRemembering(server, t, 'prefer-plain', memory);
    expect(gone.ok).toBe(false);
    expect(memory.requires(server.host, server.port, Date.now() + 5 * 3_600_000)).toBe(false);
  });

  it('a remembered peer that now drops encryption is captured plain and forgotten', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.2.2', t, { encryption: 'refused' });
    const memory = new EncryptionMemory();
    memory.remember(server.host, server.port);
    const o = await captureRemembering(server, t, 'prefer-plain', memory);
    expect(o.ok && o.encryption).toBe('none');
    expect(memory.requires(server.host, server.port)).toBe(false);
  });

  it('prefer-encrypted: the second capture of a peer that refused encryption goes plain first, and a peer that takes encryption again is forgotten', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.2.3', t, { encryption: 'refused' });
    const memory = new EncryptionMemory();
    const run = (mode: EncryptionMode = 'prefer-encrypted'): Promise<EncryptedCaptureOutcome> => captureRemembering(server, t, mode, memory);
    const first = await run();
    expect(first.ok && first.encryption).toBe('none');
    expect(first.retried?.encryption).toBe('mse');
    expect(server.accepted).toBe(2); // the encrypted handshake dropped, then plain
    expect(memory.refuses(server.host, server.port)).toBe(true);
    expect([memory.count('encrypted'), memory.count('plain')]).toEqual([0, 1]);
    const second = await run();
    expect(second.ok && second.encryption).toBe('none');
    expect(second.retried).toBeUndefined();
    expect(server.accepted).toBe(3); // one connection: plain first
    // prefer-plain ignores a 'plain' entry (plain is its own first way) and keeps it
    const third = await run('prefer-plain');
    expect(third.ok && third.encryption).toBe('none');
    expect(server.accepted).toBe(4);
    expect(memory.refuses(server.host, server.port)).toBe(true);

    const both = await peer('127.41.2.4', t, {});
    memory.remember(both.host, both.port, Date.now(), 'plain');
    const o = await captureRemembering(both, t, 'prefer-encrypted', memory);
    // Remembered as plain: dialled plain first, which works; nothing to forget (no drop)
    expect(o.ok && o.encryption).toBe('none');
    expect(both.accepted).toBe(1);
    expect(memory.refuses(both.host, both.port)).toBe(true);
  });

  it('prefer-encrypted: a peer remembered as refusing encryption that now requires it is captured encrypted and forgotten', async () => {
    const t = makeTorrent();
    const server = await peer('127.41.2.5', t, { encryption: 'required' });
    const memory = new EncryptionMemory();
    memory.remember(server.host, server.port, Date.now(), 'plain');
    const o = await captureRemembering(server, t, 'prefer-encrypted', memory);
    expect(o.ok && o.encryption).toBe('mse-rc4');
    expect(o.retried?.encryption).toBe('none');
    expect(server.accepted).toBe(2);
    expect(memory.wayOf(server.host, server.port)).toBeUndefined();
  });

  it('is bounded (the least recently confirmed go first, counted per way) and forgets after its TTL', () => {
    const m = new EncryptionMemory(3, 1000);
    for (let i = 0; i < 5; i++) m.remember(`192.0.2.${i}`, 6881, i, i % 2 === 0 ? 'encrypted' : 'plain');
    expect(m.size).toBe(3);
    expect([m.count('encrypted'), m.count('plain')]).toEqual([2, 1]); // .2 .4 encrypted, .3 plain
    expect(m.requires('192.0.2.0', 6881, 10)).toBe(false);
    expect(m.requires('192.0.2.4', 6881, 10)).toBe(true);
    m.remember('192.0.2.2', 6881, 20); // confirmed: now the newest
    m.remember('192.0.2.9', 6881, 21); // the full memory drops the least recently confirmed: .3
    expect(m.refuses('192.0.2.3', 6881, 30)).toBe(false);
    expect(m.requires('192.0.2.2', 6881, 30)).toBe(true);
    expect([m.count('encrypted'), m.count('plain')]).toEqual([3, 0]);
    expect(m.requires('192.0.2.4', 6881, 2000)).toBe(false);
  });

  it('confirm renews a peer at most hourly (each renewal takes a slot of the ring)', () => {
    const hour = 3_600_000;
    const m = new EncryptionMemory(3, 24 * hour);
    m.remember('192.0.2.1', 6881, 0);
    m.remember('192.0.2.2', 6881, 1);
    m.remember('192.0.2.3', 6881, 2);
    expect(m.confirm('192.0.2.1', 6881, 'encrypted', hour - 1)).toBe(false); // within the hour: nothing written
    m.remember('192.0.2.4', 6881, 3); // full: the oldest slot (.1, not renewed) goes
    expect(m.requires('192.0.2.1', 6881, 10)).toBe(false);
    expect(m.confirm('192.0.2.2', 6881, 'encrypted', hour + 5)).toBe(true); // renewed: now the newest
    m.remember('192.0.2.5', 6881, hour + 6); // .3 goes, not .2
    expect(m.requires('192.0.2.2', 6881, 25 * hour)).toBe(true); // 24 h from its renewal, not from 1 ms
    expect(m.requires('192.0.2.3', 6881, hour + 7)).toBe(false);
    // A confirmation of a forgotten peer remembers it anew; one of the other way replaces the entry.
    expect(m.confirm('192.0.2.9', 6881, 'plain', hour + 8)).toBe(true);
    expect(m.refuses('192.0.2.9', 6881, hour + 9)).toBe(true);
    expect(m.confirm('192.0.2.9', 6881, 'encrypted', hour + 10)).toBe(true);
    expect(m.requires('192.0.2.9', 6881, hour + 11)).toBe(true);
  });

  it('holds a busy daemon\'s recapture cycle: 300,000 peers in under 10 MB (17 B each and an index of 4 B slots, a power of two ≥ twice the bound), each still known when recaptured', () => {
    const m = new EncryptionMemory(300_000);
    const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < 300_000; i++) m.remember(ip(i), 6881 + (i % 7), 1_000 + i);
    expect(m.size).toBe(300_000);
    expect(m.bytes).toBe(300_000 * 17 + 2 ** 20 * 4);
    let known = 0;
    for (let i = 0; i < 300_000; i += 97) known += m.requires(ip(i), 6881 + (i % 7), 1_000_000) ? 1 : 0;
    expect(known).toBe(Math.ceil(300_000 / 97));
    expect(m.requires('10.250.0.1', 6881, 1_000_000)).toBe(false);
  });
});

describe('the synthetic peer (test/helpers/wire-peer-server.ts)', () => {
  it('with coalesceWrites, sends step 4 of MSE and its handshake and first messages in one write, as real clients do', async () => {
    const t = makeTorrent();
    const chunksAfterStep3 = async (coalesceWrites: boolean, host: string): Promise<Buffer[]> => {
      const server = await peer(host, t, { encryption: 'required', coalesceWrites });
      const init = new MseInitiator({ infohash: Buffer.from(t.infohash, 'hex') });
      init.write(handshakeBytes(Buffer.from(t.infohash, 'hex'), OPTIONS.peerId));
      const socket = net.connect({ host: server.host, port: server.port });
      cleanups.push(() => socket.destroy());
      socket.setNoDelay(true);
      await once(socket, 'connect');
      socket.write(init.start());
      const chunks: Buffer[] = [];
      let step3Sent = false;
      socket.on('data', (d: Buffer) => {
        if (step3Sent) chunks.push(d);
        const out = init.receive(d);
        if (out.send.length > 0) {
          socket.write(out.send);
          step3Sent = true;
        }
      });
      // Step 4 (14 + PadD bytes), the peer's handshake (68), its extended handshake and have_all.
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && (chunks.reduce((n, c) => n + c.length, 0) < 14 + 68 + 5 + 4 || !init.done)) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 100));
      return chunks;
    };
    expect((await chunksAfterStep3(true, '127.41.9.1')).length).toBe(1);
    // Without it (a write per message): step 4 leaves alone, the rest after our ACK.
    expect((await chunksAfterStep3(false, '127.41.9.2')).length).toBeGreaterThan(1);
  });
});
