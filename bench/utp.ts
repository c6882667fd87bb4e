/**
 * uTP (BEP 29) with utp-native beside TCP, both ends in this process on 127.0.0.1: connect time,
 * connect + one 68-byte BitTorrent handshake round trip, and bulk throughput (64 MiB, one
 * connection) with the CPU it took. A capture moves a handshake, a bitfield and at most the
 * metadata, so the connect and round-trip figures are the ones that matter.
 *
 *   node --import tsx bench/utp.ts          N=50 connections, MIB=64
 */
import net from 'node:net';
import { loadUtp } from '../src/capture/utp-socket.js';
import { header } from './lib.js';

const N = Number(process.env.N ?? 50);
const BYTES = Number(process.env.MIB ?? 64) * 1024 * 1024;

interface Lib {
  createServer(onConnection: (s: net.Socket) => void): { listen(port: number, host: string, cb: () => void): void; address(): unknown; close(): void };
  connect(port: number, host: string): net.Socket;
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const q = (a: number[], p: number): string => ([...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.ceil(p * a.length) - 1)] as number).toFixed(2);

async function run(kind: 'tcp' | 'utp', lib: Lib): Promise<void> {
  const server = lib.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => {
      s.write(d); // the handshake, echoed
      s.once('data', (d2: Buffer) => {
        if (d2.toString() !== 'bulk') return void s.end();
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        const pump = (): void => {
          while (sent < BYTES) {
            sent += chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
          s.end();
        };
        pump();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const hs = Buffer.alloc(68, 1);
  const connect: number[] = [];
  const roundTrip: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const s = lib.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('connect', resolve));
    connect.push(performance.now() - t0);
    s.write(hs);
    await new Promise((resolve) => s.once('data', resolve));
    roundTrip.push(performance.now() - t0);
    s.end(Buffer.from('x'));
    s.resume();
  }
  const s = lib.connect(port, '127.0.0.1');
  await new Promise((resolve) => s.once('connect', resolve));
  s.write(hs);
  await new Promise((resolve) => s.once('data', resolve));
  const c0 = cpuMs();
  const t0 = performance.now();
  let got = 0;
  s.write(Buffer.from('bulk'));
  await new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('end', resolve);
  });
  const sec = (performance.now() - t0) / 1000;
  const cpu = (cpuMs() - c0) / 1000;
  server.close();
  console.log(
    `  ${kind}: connect p50 ${q(connect, 0.5)} ms p95 ${q(connect, 0.95)} ms; connect + handshake round trip p50 ${q(roundTrip, 0.5)} ms p95 ${q(roundTrip, 0.95)} ms; ` +
      `${(got / 1048576).toFixed(0)} MiB in ${sec.toFixed(2)} s = ${(got / 1048576 / sec).toFixed(1)} MiB/s, CPU ${cpu.toFixed(2)} s (both ends)`,
  );
}

header(`uTP (utp-native) beside TCP on loopback: ${N} connections, ${BYTES / 1048576} MiB bulk`);
const { utp, error } = loadUtp();
if (utp === undefined) throw new Error(error);
for (const kind of ['tcp', 'utp', 'tcp', 'utp'] as const) await run(kind, kind === 'tcp' ? (net as unknown as Lib) : (utp as unknown as Lib));
process.exit(0);
