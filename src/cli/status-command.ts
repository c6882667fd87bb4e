import type { Command } from 'commander';
import { formatOutcomes, type OutcomeSnapshot } from '../capture/capture-outcomes.js';
import { adminRequest } from '../daemon/admin-client.js';
import { formatNotifyStatus } from '../notify/notify-status.js';
import type { NotifyStatus } from '../notify/types.js';
import type { OpsStatus } from '../ops/module.js';
import { CliError, findDaemonSocket, formatBytes, formatDuration, printJson, type GlobalOptions } from './cli-context.js';

interface Status {
  version: string;
  pid: number;
  uptimeSeconds: number;
  configFile: string | null;
  api: string;
  dht: {
    enabled: boolean;
    nodes: number;
    address?: { address: string; port: number } | null;
    ipv6?: { enabled: boolean; running: boolean; error: string | null; nodes: number; address: { address: string; port: number } | null };
    stats?: { peersFoundByFamily?: { ipv4: number; ipv6: number } };
  };
  notify?: NotifyStatus;
  queues: Record<string, number>;
  capturesLastHour: number;
  capture?: {
    outcomes?: OutcomeSnapshot;
    memory?: { limitBytes: number; reservedBytes: number; peakReservedBytes: number; refusedCaptures: number; refusedGrowths: number };
  };
  filters: { total: number; enabled: number };
  apiKeys: number;
  database: { path: string; bytes: number };
  ops?: OpsStatus;
  storage?: Record<'captures' | 'pcap', StorageState>;
  role?: string;
  cluster?: Record<string, unknown>;
  /** A center role on PostgreSQL: reachability (the last probe) and the ingester's retention. */
  store?: { kind: string; reachable: boolean; lastError: string | null; retention?: { passes: number; failures: number; monthsDropped: number } };
}

/** One line per cluster part: a crawler's forwarder and mesh, the ingester, the shared config. */
function formatCluster(role: string, c: Record<string, unknown>): string[] {
  const lines = [`role       ${role} · node ${String(c.nodeId)}`];
  const f = c.forward as
    | { connected: boolean; backlog: number; lagMs: number; confirmed: number; failed: number; lastError: string | null; sightings?: number; sightingsDropped?: number }
    | undefined;
  if (f) {
    lines.push(
      `forward    ${f.connected ? 'connected' : 'NOT CONNECTED'} · backlog ${f.backlog} · lag ${formatDuration(Math.round(f.lagMs / 1000))} · confirmed ${f.confirmed} · failed ${f.failed}` +
        (f.sightings !== undefined ? ` · sightings ${f.sightings}${f.sightingsDropped ? ` (${f.sightingsDropped} dropped)` : ''}` : '') +
        (f.lastError ? ` · last error: ${f.lastError}` : ''),
    );
  }
  const m = c.mesh as { liveCrawlers: string[]; slice: { index: number; count: number } | null; owned: number; takenOver: number; claimedElsewhere: number } | undefined;
  if (m) {
    lines.push(
      `mesh       ${m.liveCrawlers.length} live crawlers · slice ${m.slice ? `${m.slice.index + 1}/${m.slice.count}` : 'all'} · owned ${m.owned} · taken over ${m.takenOver} · claimed elsewhere ${m.claimedElsewhere}`,
    );
  }
  const i = c.ingest as { connected: boolean; consumed: number; redelivered: number; inserted: number; duplicates: number; rejected: number; unacked: number } | undefined;
  if (i) {
    lines.push(
      `ingest     ${i.connected ? 'consuming' : 'NOT CONNECTED'} · consumed ${i.consumed} · inserted ${i.inserted} · redelivered ${i.redelivered} · duplicates ${i.duplicates} · rejected ${i.rejected} · unacked ${i.unacked}`,
    );
  }
  const s = c.sharedConfig as { connected: boolean; version?: string | null; sent?: number; applied?: number } | undefined;
  if (s) {
    const what = s.sent !== undefined ? `sent ${s.sent}` : `version ${s.version ? s.version.slice(0, 12) : '(config file)'} · applied ${s.applied ?? 0}`;
    lines.push(`shared cfg ${s.connected ? 'connected' : 'NOT CONNECTED'} · ${what}`);
  }
  return lines;
}

/** The IPv6 DHT line (BEP 32): its own routing table, or why it is off. */
export function formatDht6(v6: NonNullable<Status['dht']['ipv6']>, found?: { ipv4: number; ipv6: number }): string {
  const peers = found ? ` · peers found ipv4 ${found.ipv4} / ipv6 ${found.ipv6}` : '';
  if (!v6.enabled) return `dht ipv6   off${peers}`;
  if (!v6.running) return `dht ipv6   not running (${v6.error ?? 'not started'})${peers}`;
  return `dht ipv6   ${v6.nodes} nodes${v6.address ? ` on [${v6.address.address}]:${v6.address.port}` : ''}${peers}`;
}

/** The pace line: configured and now, its rises, the captures' lag, what the last pass waited for it. */
export function formatPace(p: NonNullable<OpsStatus['retention']['pace']>, running: boolean, last: OpsStatus['retention']['lastRun']): string {
  if (p.rowsPerSecond === 0 && p.vacuumPagesPerSecond === 0) return 'pace off (unpaced)';
  const now = p.factor > 1 ? ` · raised ×${p.factor} now (falling behind)` : '';
  const lag = p.lagMs === null ? '' : ` · captures ${formatDuration(Math.max(0, Math.round(p.lagMs / 1000)))} behind their age limit${running ? '' : ' at the last batch'}`;
  const waited = last && last.pacedMs !== undefined ? ` · last pass ${last.unpaced ? 'unpaced (size cap)' : `waited ${Math.round(last.pacedMs / 1000)} s for the pace`}` : '';
  return `pace ${p.rowsPerSecond} rows/s, ${p.vacuumPagesPerSecond} pages/s${now}${p.raises > 0 ? ` · raised ${p.raises}× since start` : ''}${lag}${waited}`;
}

function formatOps(ops: OpsStatus): string[] {
  const h = ops.health;
  const failing = Object.entries(h.checks)
    .filter(([, c]) => !c.ok)
    .map(([k, c]) => `${k}: ${c.detail}`);
  const lines = [`health     ${h.ready ? 'ready' : `NOT READY (${failing.join('; ')})`} · metrics ${ops.metrics.url ?? 'off'}`];
  const r = ops.retention;
  if (!r.enabled) lines.push('retention  off');
  else if (r.lastRun === null) lines.push(`retention  no pass yet${r.nextRunAt ? ` (next ${r.nextRunAt})` : ''}`);
  else {
    const d = Object.entries(r.lastRun.deleted).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing to delete';
    const cap = r.maxDatabaseBytes > 0 ? ` · cap ${formatBytes(r.maxDatabaseBytes)}${r.lastRun.overCap ? ' (was over)' : ''}` : '';
    lines.push(
      `retention  last pass ${r.lastRun.startedAt} (${r.lastRun.durationMs} ms): ${d}; in use ${formatBytes(r.lastRun.usedBytesAfter)}${cap}` +
        (r.lastRun.vacuumedPages > 0 ? ` · ${r.lastRun.vacuumedPages} pages given back` : '') +
        (r.lastRun.batches > 0 ? ` · ${r.lastRun.batches} batches, longest ${r.lastRun.longestBatchMs} ms` : '') +
        ((r.lastRun.stepsOnThread ?? 0) > 0 ? ` (${r.lastRun.stepsOnThread} on the retention thread; WAL at most ${formatBytes(r.lastRun.walMaxBytes)})` : '') +
        (r.lastRun.error ? ` · error: ${r.lastRun.error}` : ''),
    );
  }
  // Older daemons (before the pace) do not report it.
  if (r.enabled && r.pace) lines.push(`retention  ${formatPace(r.pace, r.running, r.lastRun)}`);
  if (r.thread && r.thread.threadFailures > 0) {
    lines.push(`retention  thread failed ${r.thread.threadFailures}× (last: ${r.thread.lastError ?? '?'}): ${r.thread.stepsOnEventLoop} steps ran on the event loop instead`);
  }
  const c = ops.checkpoint;
  // Older daemons (before the checkpoint worker) do not report it.
  if (c) {
    lines.push(
      c.mode === 'auto'
        ? 'checkpoint SQLite automatic (in commits)'
        : `checkpoint worker ${c.running ? 'running' : 'NOT RUNNING'} · ${c.checkpoints} done, ${c.failures} failed` +
            (c.lastDurationMs !== null ? ` · last ${c.lastDurationMs} ms, longest ${c.longestDurationMs} ms` : '') +
            ` · WAL ${c.walFrames} pages (${c.walFramesPending} not yet checkpointed)` +
            (c.lastError ? ` · last error: ${c.lastError}` : ''),
    );
  }
  for (const w of ops.warnings) lines.push(`WARNING    ${w}`);
  return lines;
}

export interface StorageState {
  state: 'ok' | 'failing';
  consecutiveFailures: number;
  failures: number;
  lastError: string | null;
  nextAttemptAt: number | null;
  pending?: number;
  skipped?: number;
  /** Capture batches that waited for the BTN write thread's turn. */
  turnWaits?: number;
}

/** "ok (3 failures since start, 12 waits for the BTN write thread)" or "FAILING: disk full (…), 3 attempts, next in 8 s, 3,000 waiting" */
export function formatStorage(s: StorageState): string {
  const notes = [...(s.failures > 0 ? [`${s.failures} failed attempts since start`] : []), ...(s.turnWaits ? [`${s.turnWaits} waits for the BTN write thread`] : [])];
  if (s.state === 'ok') return notes.length > 0 ? `ok (${notes.join(', ')})` : 'ok';
  const next = s.nextAttemptAt === null ? '' : `, next attempt in ${formatDuration(Math.max(0, Math.ceil((s.nextAttemptAt - Date.now()) / 1000)))}`;
  const waiting = s.pending !== undefined ? `, ${s.pending} waiting, intake paused` : s.skipped !== undefined ? `, ${s.skipped} skipped` : '';
  return `FAILING: ${s.lastError ?? 'unknown error'}, ${s.consecutiveFailures} failed attempts${next}${waiting}`;
}

function formatCaptureMemory(m: NonNullable<NonNullable<Status['capture']>['memory']>): string {
  return (
    `memory     captures in flight reserve ${formatBytes(m.reservedBytes)} of ${formatBytes(m.limitBytes)} (peak ${formatBytes(m.peakReservedBytes)}); ` +
    `refused: ${m.refusedCaptures} captures, ${m.refusedGrowths} metadata fetches`
  );
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('ask the running daemon for uptime, version, DHT nodes, queue depths, captures and DB size')
    .option('-c, --config <path>', 'config file (to find the admin socket)')
    .option('--socket <path>', 'admin socket of the daemon (default: from the config, else /run/capture-daemon/admin.sock)')
    .option('--json', 'print JSON')
    .action(async (opts: GlobalOptions) => {
      const { socket, tried } = await findDaemonSocket(opts);
      let s: Status;
      try {
        s = await adminRequest<Status>(socket, 'GET', '/status');
      } catch (err) {
        throw new CliError(`not running: no daemon answers on ${tried.join(' or ')} (${(err as Error).message})`, 3, 'NOT_RUNNING');
      }
      if (opts.json) return printJson(s);
      const q = Object.entries(s.queues).map(([k, v]) => `${k} ${v}`).join(' · ');
      const lines = [
        `capture-daemon ${s.version}: running (pid ${s.pid}), up ${formatDuration(s.uptimeSeconds)}`,
        `config     ${s.configFile ?? '(embedded defaults)'}`,
        `api        ${s.api}`,
        `dht        ${s.dht.enabled ? `${s.dht.nodes} nodes${s.dht.address ? ` on ${s.dht.address.address}:${s.dht.address.port}` : ''}` : 'off'}`,
        ...(s.dht.enabled && s.dht.ipv6 ? [formatDht6(s.dht.ipv6, s.dht.stats?.peersFoundByFamily)] : []),
        `queues     ${q}`,
        `captures   ${s.capturesLastHour} in the last hour`,
        ...(s.capture?.memory ? [formatCaptureMemory(s.capture.memory)] : []),
        `database   ${s.database.path} (${formatBytes(s.database.bytes)})` +
          (s.store?.kind === 'postgres' ? ` · ${s.store.reachable ? 'reachable' : `NOT REACHABLE${s.store.lastError ? `: ${s.store.lastError}` : ''}`}` : '') +
          (s.store?.retention ? ` · retention passes ${s.store.retention.passes} (failed ${s.store.retention.failures}), months dropped ${s.store.retention.monthsDropped}` : ''),
        ...(s.storage ? [`storage    captures ${formatStorage(s.storage.captures)} · pcap ${formatStorage(s.storage.pcap)}`] : []),
        `filters    ${s.filters.total} (${s.filters.enabled} enabled) · api keys ${s.apiKeys}`,
      ];
      if (s.role && s.role !== 'all' && s.cluster) lines.splice(1, 0, ...formatCluster(s.role, s.cluster));
      if (s.capture?.outcomes) lines.push(...formatOutcomes(s.capture.outcomes));
      if (s.ops) lines.push(...formatOps(s.ops));
      if (s.notify) lines.push(...formatNotifyStatus(s.notify));
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
