/**
 * Why parts of bittorrent-dht 11 / k-rpc 5 / k-rpc-socket 1 are replaced (src/dht/): each gap
 * measured on the stock library and on our DhtNode, in the same run, on loopback (127.0.62.x–.64.x).
 *
 *  1. k-rpc's pending queue is unbounded: 50,000 queries to a silent node → pending length, heap.
 *  2. k-rpc-socket has no outbound budget: 3,000 queries to an answering node → packets/s on the wire.
 *  3. The stock responder: no BEP 51 reply, silence on unknown methods, every stored peer in one
 *     get_peers reply (size vs a 1,500-byte MTU), and the `announce_peer` event's port.
 *  4. k-rpc-socket matches replies by `indexOf` over an array of in-flight ids: cost per reply.
 *
 *   node --expose-gc --import tsx bench/krpc-library-gaps.ts
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import DHT from 'bittorrent-dht';
import bencode from 'bencode';
import { DhtNode } from '../src/dht/dht-node.js';
import { silentLogger } from '../src/util/logger.js';
import { fmtBytes, fmtInt, header, tryGc } from './lib.js';

const loopback = (ip: string): boolean => ip.startsWith('127.');

function heap(): number {
  tryGc();
  return process.memoryUsage().heapUsed;
}

async function udp(host: string, onMessage?: (buf: Buffer, from: dgram.RemoteInfo, sock: dgram.Socket) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  if (onMessage) s.on('message', (b, f) => onMessage(b, f, s));
  return s;
}

async function stockNode(host: string): Promise<DHT> {
  const d = new DHT({ bootstrap: false, host: false });
  await new Promise<void>((r) => d.listen(0, host, () => r()));
  d.on('warning', () => {});
  return d;
}

async function ourNode(host: string, maxPacketsPerSecond: number, maxPendingQueries = 1024): Promise<DhtNode> {
  const n = new DhtNode(
    { logger: silentLogger() },
    { host, port: 0, bootstrap: [], maxPacketsPerSecond, minQueryIntervalPerIpMs: 0, maxPendingQueries, allowDestination: loopback },
  );
  await n.start();
  return n;
}

/** The stock library's own k-rpc (a private field), read here only to compare against it. */
type StockRpc = { query(node: { host: string; port: number }, m: { q: string; a: Record<string, unknown> }, cb: () => void): void; pending: unknown[] };
const stockRpc = (d: DHT): StockRpc => (d as unknown as { _rpc: StockRpc })._rpc;

const stop = (d: DHT): Promise<void> => new Promise((r) => d.destroy(() => r()));

// ------------------------------------------------------------------------------------- 1
async function pendingQueue(): Promise<void> {
  console.log('\n1. k-rpc pending queue, 50,000 queries to a silent node');
  const silent = await udp('127.0.62.2');
  const target = { host: '127.0.62.2', port: silent.address().port };
  const N = 50_000;

  const stock = await stockNode('127.0.62.1');
  let h0 = heap();
  for (let i = 0; i < N; i++) stockRpc(stock).query(target, { q: 'ping', a: {} }, () => {});
  let h1 = heap();
  console.log(`   stock:  pending ${fmtInt(stockRpc(stock).pending.length)}, heap +${fmtBytes(h1 - h0)} (and each waits its turn: 16 per 2 s timeout)`);
  await stop(stock);

  const ours = await ourNode('127.0.62.3', 250, 1024);
  h0 = heap();
  let dropped = 0;
  for (let i = 0; i < N; i++) ours.rpc.query(target, { q: 'ping', a: {} }, (err) => { if (err?.code === 'EQUEUEFULL') dropped++; });
  await new Promise((r) => setImmediate(r));
  h1 = heap();
  const s = ours.stats();
  console.log(`   ours:   pending ${fmtInt(s.krpcPending)} (bound 1,024), dropped ${fmtInt(dropped)} (counted ${fmtInt(s.droppedKrpcPending)}), heap +${fmtBytes(h1 - h0)}`);
  await ours.stop();
  silent.close();
}

// ------------------------------------------------------------------------------------- 2
async function outboundRate(): Promise<void> {
  console.log('\n2. outbound packets/s, 3,000 pings to an answering node');
  const arrivals: number[] = [];
  const id = randomBytes(20);
  const sink = await udp('127.0.62.5', (buf, from, sock) => {
    arrivals.push(Date.now());
    const m = bencode.decode(buf) as { t: Uint8Array };
    sock.send(bencode.encode({ t: m.t, y: 'r', r: { id } }), from.port, from.address);
  });
  const target = { host: '127.0.62.5', port: sink.address().port };
  const measure = (): string => {
    const ms = Math.max(1, arrivals.at(-1)! - arrivals[0]!);
    return `${fmtInt(arrivals.length)} packets in ${fmtInt(ms)} ms = ${fmtInt((arrivals.length - 1) / (ms / 1000))}/s`;
  };

  const stock = await stockNode('127.0.62.4');
  await new Promise<void>((resolve) => {
    let left = 3000;
    for (let i = 0; i < 3000; i++) stockRpc(stock).query(target, { q: 'ping', a: {} }, () => { if (--left === 0) resolve(); });
  });
  console.log(`   stock:  ${measure()} (no budget)`);
  await stop(stock);

  arrivals.length = 0;
  const ours = await ourNode('127.0.62.6', 250, 3000);
  await Promise.allSettled(Array.from({ length: 1000 }, () => ours.query(target, { q: 'ping' })));
  console.log(`   ours:   ${measure()} (maxPacketsPerSecond 250; 1,000 pings)`);
  await ours.stop();
  sink.close();
}

// ------------------------------------------------------------------------------------- 3
function ask(sock: dgram.Socket, host: string, port: number, q: string, a: Record<string, unknown>, timeoutMs = 1000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const t = randomBytes(2);
    const onMsg = (buf: Buffer): void => {
      const m = bencode.decode(buf) as { t?: Uint8Array };
      if (m.t && Buffer.from(m.t).equals(t)) {
        clearTimeout(timer);
        sock.off('message', onMsg);
        resolve(buf);
      }
    };
    const timer = setTimeout(() => {
      sock.off('message', onMsg);
      resolve(null);
    }, timeoutMs);
    sock.on('message', onMsg);
    sock.send(bencode.encode({ t, y: 'q', q, a }), port, host);
  });
}

async function responder(): Promise<void> {
  console.log('\n3. responder');
  const client = await udp('127.0.62.9');
  const id = randomBytes(20);
  const ih = randomBytes(20);
  const stock = await stockNode('127.0.62.7');
  const ours = await ourNode('127.0.62.8', 1_000_000);
  let stockEventPort = -1;
  stock.on('announce_peer', (_ih: Buffer, peer: { port: number }) => (stockEventPort = peer.port));
  let ourPeerPort = -1;
  ours.on('peer', (p: { port: number }) => (ourPeerPort = p.port));

  for (const [name, host, port] of [['stock', '127.0.62.7', stock.address().port], ['ours', '127.0.62.8', ours.address().port]] as const) {
    const sample = await ask(client, host, port, 'sample_infohashes', { id, target: randomBytes(20) });
    const vote = await ask(client, host, port, 'vote', { id });
    const gp = await ask(client, host, port, 'get_peers', { id, info_hash: ih });
    const token = (bencode.decode(gp!) as { r: { token: Uint8Array } }).r.token;
    for (let i = 0; i < 400; i++) await ask(client, host, port, 'announce_peer', { id, info_hash: ih, port: 10_000 + i, token });
    const full = await ask(client, host, port, 'get_peers', { id, info_hash: ih });
    const values = (bencode.decode(full!) as { r: { values?: unknown[] } }).r.values ?? [];
    const describe = (b: Buffer | null): string => (b ? `reply (${(bencode.decode(b) as { y: Uint8Array }).y[0] === 0x65 ? 'error ' + String((bencode.decode(b) as { e: unknown[] }).e[0]) : 'r'})` : 'no reply in 1 s');
    console.log(
      `   ${name.padEnd(6)} sample_infohashes: ${describe(sample)}; unknown method: ${describe(vote)};` +
        ` get_peers after 400 announces: ${values.length} values, ${fmtInt(full!.length)} bytes${full!.length > 1472 ? ' (over a 1,500-byte MTU: IP fragments)' : ''}`,
    );
  }
  console.log(`   announce_peer with port=10,399 (the last one) from UDP port ${client.address().port}: stock 'announce_peer' event port ${stockEventPort}; our DiscoveredPeer port ${ourPeerPort}`);
  await stop(stock);
  await ours.stop();
  client.close();
}

// ------------------------------------------------------------------------------------- 4
function tidMatching(): void {
  console.log('\n4. reply matching: k-rpc-socket indexOf over in-flight ids vs a Map');
  for (const n of [16, 512, 4096]) {
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const map = new Map(ids.map((id) => [id, id]));
    const rounds = 200_000;
    let sink = 0;
    let t = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) sink += ids.indexOf((i % n) + 1);
    const arrNs = Number(process.hrtime.bigint() - t) / rounds;
    t = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) sink += map.get((i % n) + 1)!;
    const mapNs = Number(process.hrtime.bigint() - t) / rounds;
    console.log(`   ${String(n).padStart(5)} in flight: indexOf ${arrNs.toFixed(0)} ns, Map ${mapNs.toFixed(0)} ns per reply${sink < 0 ? '' : ''}`);
  }
}

header('bittorrent-dht / k-rpc gaps: stock library vs our DhtNode');
await pendingQueue();
await outboundRate();
await responder();
tidMatching();
