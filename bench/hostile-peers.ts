/**
 * Hostile peers (issue 9): what 200 concurrent hostile connections of one kind cost the daemon, and
 * whether 50 flooders beside 50 honest seeders starve it. Default config, pcap on for every capture.
 *
 *   node --import tsx bench/hostile-peers.ts
 *   HOSTILE_ONLY=piece-flood,mix-have   run some scenarios only (labels as printed)
 *   HOSTILE_PER_MODE=200                hostile peers per mode (concurrent connections)
 *   HOSTILE_FLOOD_S=31                  length of the mixed scenarios
 *
 * Scenarios:
 * - one per hostile mode (test/helpers/hostile-peer.ts): 200 peers of that kind offered at once
 *   (capture.concurrency 200: all connect together); runs until every capture ended. Printed: peak
 *   RSS of the capturing process, worst event-loop delay, errors, pcap bytes written.
 * - mix-have, mix-piece: 50 HAVE (or 1 MiB piece) flooders kept coming back for 31 s (each
 *   re-offered when its capture ended, at most once per 2 s), 50 honest seeders offered 1 s in. Printed: worst API
 *   latency (GET /capture/peers/all/ every 100 ms from this process, another process than the
 *   capturer), % of honest seeders captured within 30 s, peak RSS, worst event-loop delay.
 *
 * Network safety: everything runs in a private network namespace holding only loopback (the script
 * re-executes itself under `unshare --net --fork`, brings lo up and aborts unless lo is alone).
 */
import { isolateNetwork, runInIsolatedNetwork } from './isolated-network.js';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOSTILE_MODES } from '../test/helpers/hostile-peer.js';
import type { BenchPeer, CapturerJob, CapturerResult, Scenario, SwarmMessage } from './hostile-peers-types.js';
import { fmtBytes, header, passMiss } from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const HERE = path.dirname(SELF);
const TARGET_RSS = 600 * 1024 * 1024;
const TARGET_API_MS = 500;
const TARGET_HONEST = 0.9;
const BENCH_KEY = 'hostile-bench-key-0123456789';

await runInIsolatedNetwork('hostile-peers', SELF, main);

function startChild(file: string, execArgv: string[] = []): ChildProcess {
  return fork(path.join(HERE, file), [], { execArgv: [...execArgv, '--import', 'tsx'], env: process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no '${type}' from child within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (msg: { type: string }): void => {
      if (msg.type === type) done(undefined, msg as T);
    };
    const onExit = (code: number | null): void => done(new Error(`child exited (${code}) before '${type}'`));
    const done = (err?: Error, value?: T): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Polls the capturer's API every 100 ms until stopped; returns the worst latency (a timeout counts as 5 s). */
function pollApi(url: string): { stop: () => Promise<{ worstMs: number; requests: number; failures: number }> } {
  let stopped = false;
  let worstMs = 0;
  let requests = 0;
  let failures = 0;
  const loop = (async () => {
    while (!stopped) {
      const t = performance.now();
      try {
        const res = await fetch(`${url}/capture/peers/all/?key=${BENCH_KEY}&filter=bench&from=0`, { signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        if (res.status !== 200) failures++;
      } catch {
        failures++;
      }
      requests++;
      worstMs = Math.max(worstMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { worstMs, requests, failures };
    },
  };
}

async function main(): Promise<void> {
  isolateNetwork('hostile-peers');
  header('hostile-peers: 200 hostile connections of one kind; 50 flooders beside 50 honest seeders');
  const only = (process.env.HOSTILE_ONLY ?? '').split(',').filter((s) => s !== '');
  const floodMs = Number(process.env.HOSTILE_FLOOD_S ?? 31) * 1000;
  const swarm = startChild('hostile-peers-swarm.ts');
  const readyP = nextMessage<Extract<SwarmMessage, { type: 'ready' }>>(swarm, 'ready', 300_000);
  swarm.send({ type: 'start' });
  const ready = await readyP;
  const of = (kind: BenchPeer['kind']): BenchPeer[] => ready.peers.filter((p) => p.kind === kind);
  console.log(`swarm: ${ready.peers.length} peers (${HOSTILE_MODES.length} hostile modes × ${of('piece-flood').length}, ${of('honest').length} honest seeders); pcap on, config defaults (concurrency 200, haveWindowMs 2000, idle 10 s, total 30 s)`);

  const scenarios: Scenario[] = [
    ...HOSTILE_MODES.map((mode) => ({ label: mode, hostile: of(mode), honest: [], floodMs: 0 })),
    { label: 'mix-have', hostile: of('have-flood').slice(0, 50), honest: of('honest'), floodMs },
    { label: 'mix-piece', hostile: of('piece-flood').slice(0, 50), honest: of('honest'), floodMs },
  ].filter((s) => only.length === 0 || only.includes(s.label));

  const rows: Array<{ r: CapturerResult; apiWorstMs?: number; apiFailures?: number }> = [];
  for (const scenario of scenarios) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hostile-bench-'));
    const capturer = startChild('hostile-peers-capturer.ts', ['--expose-gc']);
    const startedP = nextMessage<{ apiUrl: string }>(capturer, 'started', 60_000);
    const resultP = nextMessage<CapturerResult>(capturer, 'result', floodMs + 180_000);
    const job: CapturerJob = { type: 'run', scenario, knownInfohash: ready.knownInfohash, pieceCount: ready.pieceCount, dir };
    capturer.send(job);
    try {
      const { apiUrl } = await startedP;
      const poll = scenario.honest.length > 0 ? pollApi(apiUrl) : undefined;
      const r = await resultP;
      const api = await poll?.stop();
      rows.push({ r, apiWorstMs: api?.worstMs, apiFailures: api?.failures });
      const errors = Object.entries(r.errors).sort((a, b) => b[1] - a[1]).map(([e, n]) => `${n}× ${e}`).join('; ');
      const notes = Object.entries(r.notes).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([e, n]) => `${n}× ${e}`).join('; ');
      console.log(
        `\n[${r.label}] ${r.captures} captures in ${(r.wallMs / 1000).toFixed(1)} s; peak RSS ${fmtBytes(r.peakRss)} (baseline ${fmtBytes(r.baselineRss)}); ` +
          `event-loop delay max ${r.eventLoopMaxMs.toFixed(0)} ms, p99 ${r.eventLoopP99Ms.toFixed(0)} ms; pcap ${r.pcapFiles} files, ${fmtBytes(r.pcapBytes)}` +
          (api ? `\n  API: worst ${api.worstMs.toFixed(0)} ms over ${api.requests} requests (${api.failures} failed); honest seeders captured within 30 s: ${r.honestWithin30s}/${r.honestOffered} (p50 ${r.honestP50Ms.toFixed(0)} ms)` : '') +
          `\n  errors: ${errors || '(none)'}${notes ? `\n  notes: ${notes}` : ''}` +
          (r.memory ? `\n  capture memory budget: peak reserved ${fmtBytes(r.memory.peakReservedBytes ?? 0)} of ${fmtBytes(r.memory.limitBytes ?? 0)}, refused ${r.memory.refusedCaptures} captures` : ''),
      );
    } catch (err) {
      console.error(`${scenario.label}: ${(err as Error).message}`);
      capturer.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
  swarm.send({ type: 'stop' });

  console.log('\nscenario                   peak RSS   ELD max  API worst  honest ≤30 s');
  for (const { r, apiWorstMs } of rows) {
    const honest = r.honestOffered > 0 ? `${((100 * r.honestWithin30s) / r.honestOffered).toFixed(0)} %` : '-';
    console.log(
      `${r.label.padEnd(24)} ${fmtBytes(r.peakRss).padStart(10)} ${`${r.eventLoopMaxMs.toFixed(0)} ms`.padStart(9)} ${(apiWorstMs === undefined ? '-' : `${apiWorstMs.toFixed(0)} ms`).padStart(10)} ${honest.padStart(13)}`,
    );
  }
  console.log('');
  for (const { r, apiWorstMs } of rows) {
    const rssOk = r.peakRss <= TARGET_RSS;
    const apiOk = apiWorstMs === undefined || apiWorstMs <= TARGET_API_MS;
    const honestOk = r.honestOffered === 0 || r.honestWithin30s / r.honestOffered >= TARGET_HONEST;
    console.log(
      `${passMiss(rssOk && apiOk && honestOk)}  ${r.label}: RSS ${passMiss(rssOk)} (≤ 600 MiB)` +
        (r.honestOffered > 0 ? `, API ${passMiss(apiOk)} (≤ 500 ms), honest ${passMiss(honestOk)} (≥ 90 % within 30 s)` : ''),
    );
  }
}
