/**
 * An HTTP client in a process of its own, for latency benchmarks: in the server's process a client
 * shares the event loop (and the garbage collector) with the server, and its work (reading and
 * decoding a 300 KB answer) lands in the measured time twice. `getInChild(urls)` forks this file;
 * the child GETs the URLs one after the other on one keep-alive connection (node:http, no body
 * decoding) and reports, per URL, the ms from sending the request to the last byte of the answer,
 * its status and its size. The first `check` answers are also JSON.parse-d (outside the timing),
 * so a benchmark can tell a page of peers from an error.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export interface GetTimings {
  ms: number[];
  statuses: number[];
  bytes: number[];
  /** The first `check` bodies, parsed. */
  parsed: unknown[];
  /** CPU ms of the client process for the timed GETs. */
  cpuMs: number;
}

interface Job {
  urls: string[];
  check: number;
  /** Cycle through the URLs until the parent sends 'stop' (getInChildUntilStopped). */
  loop?: boolean;
}

const SELF = fileURLToPath(import.meta.url);

/** Runs the GETs in a child process (node --import tsx), sequentially; resolves with its timings. */
export function getInChild(urls: readonly string[], check = 0): Promise<GetTimings> {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: GetTimings | undefined;
    child.on('message', (m) => {
      result = m as GetTimings;
      child.disconnect();
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`HTTP client process exited with ${code}`))));
    child.send({ urls: [...urls], check } satisfies Job);
  });
}

/** GETs sent by `getInChildUntilStopped`: when each was sent (epoch ms, performance.timeOrigin-based) and its time. */
export interface TimedGets {
  at: number[];
  ms: number[];
  statuses: number[];
  /** CPU ms of the client process. */
  cpuMs: number;
}

/**
 * Runs GETs in a child process, one after the other on one keep-alive connection, cycling through
 * `urls` until `stop()`: for benchmarks that switch something on and off meanwhile and sort the
 * requests by when they were sent. `started` resolves once the child sends its first request.
 */
export function getInChildUntilStopped(urls: readonly string[]): { started: Promise<void>; stop(): Promise<TimedGets> } {
  const child = fork(SELF, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let onStarted: () => void = () => undefined;
  const started = new Promise<void>((r) => (onStarted = r));
  const done = new Promise<TimedGets>((resolve, reject) => {
    let result: TimedGets | undefined;
    child.on('message', (m: { kind?: string } & Partial<TimedGets>) => {
      if (m.kind === 'started') return onStarted();
      result = m as TimedGets;
      child.disconnect();
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`HTTP client process exited with ${code}`))));
  });
  child.send({ urls: [...urls], check: 0, loop: true } satisfies Job);
  return {
    started,
    stop: () => {
      child.send('stop');
      return done;
    },
  };
}

async function runLoop(urls: string[], stopped: () => boolean): Promise<TimedGets> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const out: TimedGets = { at: [], ms: [], statuses: [], cpuMs: 0 };
  const cpu0 = process.cpuUsage();
  for (let i = 0; !stopped(); i = (i + 1) % urls.length) {
    const t = performance.now();
    const res = await get(agent, urls[i] as string);
    out.at.push(performance.timeOrigin + t);
    out.ms.push(performance.now() - t);
    out.statuses.push(res.status);
    if (i === 0 && out.at.length === 1) process.send?.({ kind: 'started' });
  }
  const cpu = process.cpuUsage(cpu0);
  out.cpuMs = (cpu.user + cpu.system) / 1000;
  agent.destroy();
  return out;
}

function get(agent: http.Agent, url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function runJob(job: Job): Promise<GetTimings> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const out: GetTimings = { ms: [], statuses: [], bytes: [], parsed: [], cpuMs: 0 };
  const cpu0 = process.cpuUsage();
  let checkCpu = 0;
  for (const url of job.urls) {
    const t = performance.now();
    const res = await get(agent, url);
    out.ms.push(performance.now() - t);
    out.statuses.push(res.status);
    out.bytes.push(res.body.length);
    if (out.parsed.length < job.check) {
      const c = process.cpuUsage();
      out.parsed.push(JSON.parse(res.body.toString('utf8')));
      const u = process.cpuUsage(c);
      checkCpu += (u.user + u.system) / 1000;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  out.cpuMs = (cpu.user + cpu.system) / 1000 - checkCpu;
  agent.destroy();
  return out;
}

if (process.send && process.argv[1] === SELF) {
  process.once('message', (job: Job) => {
    if (job.loop) {
      let stop = false;
      process.on('message', (m) => m === 'stop' && (stop = true));
      void runLoop(job.urls, () => stop).then(
        (r) => process.send?.(r),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
      return;
    }
    runJob(job).then(
      (r) => process.send?.(r),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
