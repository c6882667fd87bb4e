import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../util/version.js';
import { captureFailureReason } from './failure-reason.js';
import { mseDhPool } from '../protocol/mse/mse-dh-pool.js';
import type { WalCheckpointStatus } from '../store/wal-checkpointer.js';
import type { OpsSources, OpsStore } from './ports.js';
import type { RetentionPaceStatus } from './retention-pace.js';

const P = 'capture_daemon_';

/** Things the ops module observes as they happen (each is a few array writes: no I/O, no allocation of note). */
export interface MetricsObservers {
  capture(done: { ok: boolean; error?: string; durationMs: number; metadataOnly: boolean }): void;
  dbWrite(rows: number, durationMs: number): void;
  apiRequest(route: string, method: string, status: number, durationMs: number): void;
  retention(table: string, rows: number): void;
  /** One WAL checkpoint of the checkpoint worker (its time, on the worker's thread). */
  checkpoint(durationMs: number, ok: boolean): void;
}

export interface DaemonMetrics {
  readonly registry: Registry;
  readonly observe: MetricsObservers;
}

/** A counter whose value is read from an existing total at scrape time (no work on the hot path). */
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => Array<[Record<string, string>, number]>,
): void {
  new Counter({
    name: P + name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) if (value > 0) this.inc(labels, value);
    },
  });
}

/**
 * Retention's pace (retention-pace.ts) as gauges: the rows per second it may delete now (the
 * configured pace × its rises; 0 unpaced) and the captures' lag behind their age limit.
 */
export function registerRetentionPaceMetrics(registry: Registry, pace: () => RetentionPaceStatus): void {
  gaugeFrom(registry, 'retention_pace_rows_per_second', 'Rows retention deletes per second at most now (configured × rises; 0: unpaced)', [], () => {
    const p = pace();
    return [[{}, p.rowsPerSecond * p.factor]];
  });
  gaugeFrom(registry, 'retention_lag_seconds', 'How far the newest capture retention deleted was behind its age limit, at its last batch (s)', [], () => {
    const lag = pace().lagMs;
    return lag === null ? [] : [[{}, lag / 1000]];
  });
}

export function gaugeFrom(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => Array<[Record<string, string>, number]>,
): void {
  new Gauge({
    name: P + name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/**
 * The daemon's Prometheus metrics. Gauges and most counters are read from the stats each stage
 * already keeps, in collect() callbacks at scrape time; only captures, DB writes and API requests
 * are observed as they happen (histograms need each value).
 */
export function createMetrics(
  sources: OpsSources,
  store: Pick<OpsStore, 'space'>,
  dbFiles: { main: () => number; wal: () => number },
  /** The checkpoint worker's status (absent: none runs, the checkpoint series read 0). */
  checkpoints?: () => WalCheckpointStatus,
): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: P });
  // prom-client names these gauges "…_total", which Prometheus reserves for counters (promtool
  // flags them); the per-type gauges without the suffix (nodejs_active_handles{type}) stay.
  for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`${P}nodejs_${n}`);

  new Gauge({ name: `${P}build_info`, help: 'Always 1; the version as a label', labelNames: ['version'], registers: [registry] }).set(
    { version: VERSION },
    1,
  );

  // Cache the DHT stats for one scrape: several collectors read them.
  let dhtCache: { at: number; stats: ReturnType<OpsSources['dht']> } | undefined;
  const dht = (): ReturnType<OpsSources['dht']> => {
    const now = Date.now();
    if (!dhtCache || now - dhtCache.at > 500) dhtCache = { at: now, stats: sources.dht() };
    return dhtCache.stats;
  };
  let notifyCache: { at: number; status: ReturnType<OpsSources['notify']> } | undefined;
  const notify = (): ReturnType<OpsSources['notify']> => {
    const now = Date.now();
    if (!notifyCache || now - notifyCache.at > 500) notifyCache = { at: now, status: sources.notify() };
    return notifyCache.status;
  };

  // Queues: depth per stage, drops per stage and reason.
  gaugeFrom(registry, 'queue_depth', 'Items waiting in each bounded queue', ['stage'], () => {
    const d = dht();
    const s = sources.capture().scheduler;
    const n = notify();
    return [
      [{ stage: 'capture' }, s.queued],
      [{ stage: 'store' }, sources.capture().store.pending],
      [{ stage: 'dht_send' }, d.socket?.queued ?? 0],
      [{ stage: 'dht_krpc' }, d.krpcPending],
      [{ stage: 'dht_lookup_urgent' }, d.lookups?.urgentQueued ?? 0],
      [{ stage: 'dht_lookup_sampled' }, d.lookups?.sampledQueued ?? 0],
      [{ stage: 'metadata_wanted' }, sources.capture().pipeline.metadataWanted ?? 0],
      [{ stage: 'outbox_amqp' }, n.amqp.backlog],
      [{ stage: 'outbox_email' }, n.email.backlog],
    ];
  });
  gaugeFrom(registry, 'captures_running', 'Capture connections open now', [], () => [[{}, sources.capture().scheduler.running]]);
  counterFrom(registry, 'queue_dropped_total', 'Items a full or slow stage refused, by stage and reason', ['stage', 'reason'], () => {
    const d = dht();
    const l = d.lookups;
    return [
      [{ stage: 'capture', reason: 'queue_full' }, sources.capture().scheduler.droppedQueueFull],
      [{ stage: 'store', reason: 'queue_full' }, sources.capture().store.refused],
      [{ stage: 'dht_send', reason: 'queue_full' }, d.socket?.droppedQueueFull ?? 0],
      [{ stage: 'dht_send', reason: 'queue_timeout' }, d.socket?.droppedQueueTimeout ?? 0],
      [{ stage: 'dht_krpc', reason: 'queue_full' }, d.droppedKrpcPending],
      [{ stage: 'dht_lookup_urgent', reason: 'queue_full' }, l?.droppedUrgent ?? 0],
      [{ stage: 'dht_lookup_sampled', reason: 'queue_full' }, l?.droppedSampled ?? 0],
    ];
  });

  // DHT.
  counterFrom(registry, 'dht_packets_total', 'UDP packets of the DHT node', ['direction'], () => {
    const d = dht();
    return [
      [{ direction: 'in' }, d.packetsIn],
      [{ direction: 'out' }, d.packetsOut],
    ];
  });
  counterFrom(registry, 'dht_bytes_total', 'UDP bytes of the DHT node', ['direction'], () => {
    const d = dht();
    return [
      [{ direction: 'in' }, d.socket?.bytesIn ?? 0],
      [{ direction: 'out' }, d.socket?.bytesOut ?? 0],
    ];
  });
  counterFrom(registry, 'dht_queries_total', 'KRPC queries by direction (in: answered by us, out: sent) and method', ['direction', 'type'], () => {
    const d = dht();
    const out: Array<[Record<string, string>, number]> = [];
    for (const [type, v] of Object.entries(d.responder?.answered ?? {})) out.push([{ direction: 'in', type }, v]);
    for (const [type, v] of Object.entries(d.socket?.queriesSentByType ?? {})) out.push([{ direction: 'out', type }, v]);
    return out;
  });
  counterFrom(registry, 'dht_replies_total', 'Replies to our queries, by outcome', ['result'], () => {
    const s = dht().socket;
    return [
      [{ result: 'response' }, s?.responsesReceived ?? 0],
      [{ result: 'error' }, s?.errorsReceived ?? 0],
      [{ result: 'timeout' }, s?.timeouts ?? 0],
      [{ result: 'unexpected' }, s?.unexpectedReplies ?? 0],
    ];
  });
  counterFrom(registry, 'dht_budget_refusals_total', 'Packets the DHT rate budget or address policy refused', ['kind'], () => {
    const s = dht().socket;
    return [
      [{ kind: 'reply_budget' }, s?.droppedReplyBudget ?? 0],
      [{ kind: 'destination_policy' }, s?.droppedDestination ?? 0],
      [{ kind: 'other_family' }, s?.droppedOtherFamily ?? 0],
      [{ kind: 'per_ip_delayed' }, s?.perIpDelayed ?? 0],
    ];
  });
  gaugeFrom(registry, 'dht_routing_table_nodes', 'Nodes in the DHT routing table of the IPv4 node', [], () => [[{}, dht().nodes]]);
  // BEP 32: the IPv6 node's own table and traffic, and peers found by their address family.
  gaugeFrom(registry, 'dht_family_routing_table_nodes', 'Nodes in each DHT routing table, by address family (IPv6: 0 when off)', ['family'], () => {
    const d = dht();
    return [
      [{ family: 'ipv4' }, d.nodes],
      [{ family: 'ipv6' }, d.ipv6.node?.nodes ?? 0],
    ];
  });
  counterFrom(registry, 'dht_family_packets_total', 'UDP packets of each DHT node, by address family and direction', ['family', 'direction'], () => {
    const d = dht();
    const v6 = d.ipv6.node;
    return [
      [{ family: 'ipv4', direction: 'in' }, d.packetsIn],
      [{ family: 'ipv4', direction: 'out' }, d.packetsOut],
      [{ family: 'ipv6', direction: 'in' }, v6?.packetsIn ?? 0],
      [{ family: 'ipv6', direction: 'out' }, v6?.packetsOut ?? 0],
    ];
  });
  counterFrom(registry, 'dht_family_lookup_peers_total', 'Peers (values) the get_peers lookups of each DHT node returned, before de-duplication', ['family'], () => {
    const d = dht();
    return [
      [{ family: 'ipv4' }, d.ipv4Lookups?.peers ?? 0],
      [{ family: 'ipv6' }, d.ipv6.node?.lookups.peers ?? 0],
    ];
  });
  counterFrom(registry, 'dht_peers_found_by_family_total', 'Peers the DHT passed on (after de-duplication), by the peer address family', ['family'], () => {
    const f = dht().peersFoundByFamily;
    return [
      [{ family: 'ipv4' }, f.ipv4],
      [{ family: 'ipv6' }, f.ipv6],
    ];
  });
  gaugeFrom(registry, 'dht_ipv6_running', '1 when the IPv6 DHT node runs, 0 when off or the host has no IPv6', [], () => [[{}, dht().ipv6.running ? 1 : 0]]);
  // BEP 5 node health: nodes that stopped answering are "bad" and not queried for a while.
  gaugeFrom(registry, 'dht_bad_nodes', 'DHT nodes currently bad (several queries in a row unanswered): not queried for a while', [], () => [[{}, dht().health?.bad ?? 0]]);
  counterFrom(registry, 'dht_nodes_gone_bad_total', 'DHT nodes that went bad since start', [], () => [[{}, dht().health?.wentBad ?? 0]]);
  counterFrom(registry, 'dht_queries_skipped_bad_node_total', 'DHT queries not sent because their node is bad', [], () => [[{}, dht().health?.refused ?? 0]]);
  gaugeFrom(registry, 'dht_last_reply_age_seconds', 'Seconds since the last reply to one of our DHT queries (-1: none yet)', [], () => {
    const at = dht().socket?.lastReplyAt ?? 0;
    return [[{}, at > 0 ? (Date.now() - at) / 1000 : -1]];
  });
  counterFrom(registry, 'dht_lookups_total', 'get_peers lookups of watched infohashes, by result', ['result'], () => {
    const l = dht().lookups;
    return [
      [{ result: 'completed' }, l?.completed ?? 0],
      [{ result: 'timed_out' }, l?.timedOut ?? 0],
      [{ result: 'failed' }, l?.failed ?? 0],
    ];
  });
  gaugeFrom(registry, 'dht_lookups_running', 'get_peers lookups running now', [], () => [[{}, dht().lookups?.running ?? 0]]);
  counterFrom(registry, 'dht_peers_found_total', 'Peers the DHT found (after de-duplication), by source', ['source'], () =>
    Object.entries(dht().peersFound).map(([source, v]) => [{ source }, v]),
  );

  // Captures.
  counterFrom(registry, 'peers_offered_total', 'Peers offered to the capture pipeline, by what became of them', ['result'], () => {
    const p = sources.capture().pipeline;
    return ['queued', 'metadata-queued', 'unwatched', 'no-match', 'recent', 'bad-address', 'not-dialable', 'queue-full'].map((k) => [
      { result: k.replace(/-/g, '_') },
      p[k] ?? 0,
    ]);
  });
  const captures = new Counter({
    name: `${P}captures_total`,
    help: 'Finished capture attempts, by result and failure reason',
    labelNames: ['result', 'reason'],
    registers: [registry],
  });
  const captureSeconds = new Histogram({
    name: `${P}capture_duration_seconds`,
    help: 'Duration of one capture attempt (connect to report or failure)',
    labelNames: ['result'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34],
    registers: [registry],
  });
  counterFrom(registry, 'capture_outcomes_total', 'Captures by what explains their end (captured, encryption_required, choked_and_silent, connect_refused, reset_after_handshake, …)', ['reason'], () =>
    Object.entries(sources.capture().outcomes?.byReason ?? {}).map(([reason, n]) => [{ reason: reason.replace(/-/g, '_') }, n ?? 0]),
  );
  counterFrom(registry, 'capture_attempts_total', 'Connection attempts by transport (tcp, tcp+mse: encrypted) and result', ['transport', 'result'], () =>
    Object.entries(sources.capture().outcomes?.byTransport ?? {}).flatMap(([transport, t]) => [
      [{ transport: transport.replace('+', '_'), result: 'captured' }, t.captured] as [Record<string, string>, number],
      [{ transport: transport.replace('+', '_'), result: 'failed' }, t.attempts - t.captured] as [Record<string, string>, number],
    ]),
  );
  counterFrom(registry, 'capture_outcomes_by_client_total', 'Captures by client family (the peer\'s own name, at most 64 families, the rest "other"; "unknown" before a handshake) and what explains their end', ['client', 'reason'], () =>
    Object.entries(sources.capture().outcomes?.byClient ?? {}).flatMap(([client, reasons]) =>
      Object.entries(reasons).map(([reason, n]) => [{ client, reason: reason.replace(/-/g, '_') }, n ?? 0] as [Record<string, string>, number]),
    ),
  );
  counterFrom(registry, 'capture_outcomes_by_transport_total', 'Captures by the transport of the attempt that counted (tcp, tcp_mse, utp) and what explains their end', ['transport', 'reason'], () =>
    Object.entries(sources.capture().outcomes?.byTransportReason ?? {}).flatMap(([transport, reasons]) =>
      Object.entries(reasons ?? {}).map(([reason, n]) => [{ transport: transport.replace('+', '_'), reason: reason.replace(/-/g, '_') }, n ?? 0] as [Record<string, string>, number]),
    ),
  );
  counterFrom(registry, 'capture_encrypted_retries_total', 'Captures retried encrypted (MSE/PE) after the peer dropped the plain handshake, by result', ['result'], () => {
    const r = sources.capture().outcomes?.encryptedRetries;
    return [
      [{ result: 'tried' }, r?.tried ?? 0],
      [{ result: 'captured' }, r?.captured ?? 0],
    ];
  });
  gaugeFrom(registry, 'capture_encryption_memory_peers', 'Peers remembered as taking only one way (way="encrypted": required encryption; way="plain": refused it), dialled that way first', ['way'], () => {
    const o = sources.capture().outcomes;
    return [
      [{ way: 'encrypted' }, o?.peersRequiringEncryption ?? 0],
      [{ way: 'plain' }, o?.peersRefusingEncryption ?? 0],
    ];
  });
  gaugeFrom(registry, 'capture_encryption_memory_capacity', 'Peers the encryption memory holds at most (capture.encryptionMemoryPeers): near it, recaptures start to pay the dropped first attempt again', [], () => {
    const cap = sources.capture().outcomes?.encryptionMemoryCapacity;
    return cap === undefined ? [] : [[{}, cap]];
  });
  // MSE/PE Diffie-Hellman work: on the pool's thread or inline (the process-wide mseDhPool).
  counterFrom(registry, 'capture_mse_dh_total', 'MSE/PE Diffie-Hellman work of encrypted handshakes (work="key_pair"|"secret"), on the DH thread or inline on the event loop (where; inline: no pair ready, queue full, thread down, single core)', ['work', 'where'], () => {
    const d = mseDhPool.stats();
    return [
      [{ work: 'key_pair', where: 'thread' }, d.pairsFromThread],
      [{ work: 'key_pair', where: 'inline' }, d.pairsInline],
      [{ work: 'secret', where: 'thread' }, d.secretsOnThread],
      [{ work: 'secret', where: 'inline' }, d.secretsInline],
    ];
  });
  counterFrom(registry, 'capture_mse_dh_thread_failures_total', 'MSE/PE DH thread deaths, errors and timeouts (its work then done inline; after 5 the pool stays inline)', [], () => [[{}, mseDhPool.stats().threadFailures]]);
  // The daemon-wide memory budget of in-flight captures (capture.memoryBudgetBytes).
  gaugeFrom(registry, 'capture_memory_budget_bytes', 'The memory budget of in-flight captures (capture.memoryBudgetBytes)', [], () => [[{}, sources.capture().memory?.limitBytes ?? 0]]);
  gaugeFrom(registry, 'capture_memory_reserved_bytes', 'Bytes of the capture memory budget reserved now (worst case of the running captures\' buffers)', [], () => [[{}, sources.capture().memory?.reservedBytes ?? 0]]);
  gaugeFrom(registry, 'capture_memory_reserved_peak_bytes', 'Most bytes of the capture memory budget reserved at once since start', [], () => [[{}, sources.capture().memory?.peakReservedBytes ?? 0]]);
  counterFrom(registry, 'capture_memory_refusals_total', 'Work the capture memory budget refused: captures not started, metadata fetches not made', ['kind'], () => {
    const m = sources.capture().memory;
    return [
      [{ kind: 'capture' }, m?.refusedCaptures ?? 0],
      [{ kind: 'metadata' }, m?.refusedGrowths ?? 0],
    ];
  });
  counterFrom(registry, 'dht_values_dropped_total', 'DHT peer values not dialled: phantoms (byte-swapped ports) and values of distrusted nodes', ['reason'], () => {
    const t = sources.capture().peerValueTrust;
    return [
      [{ reason: 'phantom' }, t?.phantoms ?? 0],
      [{ reason: 'distrusted_node' }, t?.distrustedDrops ?? 0],
    ];
  });
  counterFrom(registry, 'metadata_fetches_total', 'Torrent metadata fetched from peers (BEP 9)', [], () => [[{}, sources.capture().pipeline.metadataFetched ?? 0]]);
  counterFrom(registry, 'captures_stored_total', 'Captures written to the database', [], () => [[{}, sources.capture().store.written]]);
  counterFrom(registry, 'pcap_write_failures_total', 'pcap files that could not be written', [], () => [[{}, sources.capture().pipeline.pcapFailed ?? 0]]);

  // Notifications.
  gaugeFrom(registry, 'outbox_backlog', 'Notifications waiting in the outbox, by target', ['target'], () => {
    const n = notify();
    return [
      [{ target: 'amqp' }, n.amqp.backlog],
      [{ target: 'email' }, n.email.backlog],
    ];
  });
  gaugeFrom(registry, 'outbox_parked', 'Notifications set aside as undeliverable, by target', ['target'], () => {
    const n = notify();
    return [
      [{ target: 'amqp' }, n.amqp.parked],
      [{ target: 'email' }, n.email.parked],
    ];
  });
  gaugeFrom(registry, 'outbox_delivery_lag_seconds', 'Age of the oldest waiting notification, by target (0 when none waits)', ['target'], () => {
    const n = notify();
    const lag = (iso: string | null): number => (iso === null ? 0 : Math.max(0, (Date.now() - Date.parse(iso)) / 1000));
    return [
      [{ target: 'amqp' }, lag(n.amqp.oldestPendingAt)],
      [{ target: 'email' }, lag(n.email.oldestPendingAt)],
    ];
  });
  counterFrom(registry, 'notifications_total', 'Notification delivery outcomes since start, by target', ['target', 'result'], () => {
    const n = notify();
    return (['amqp', 'email'] as const).flatMap((t) => [
      [{ target: t, result: 'delivered' }, n[t].delivered],
      [{ target: t, result: 'failed' }, n[t].failed],
      [{ target: t, result: 'parked' }, n[t].parkedSinceStart],
    ]) as Array<[Record<string, string>, number]>;
  });

  // HTTP API.
  const apiSeconds = new Histogram({
    name: `${P}http_request_duration_seconds`,
    help: 'API request duration, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  // SQLite.
  gaugeFrom(registry, 'db_file_bytes', 'Size of the database files on disk', ['file'], () => [
    [{ file: 'main' }, dbFiles.main()],
    [{ file: 'wal' }, dbFiles.wal()],
  ]);
  gaugeFrom(registry, 'db_used_bytes', 'Bytes of the database in use (pages minus free pages)', [], () => [[{}, store.space().usedBytes]]);
  const dbWriteSeconds = new Histogram({
    name: `${P}db_write_duration_seconds`,
    help: 'Duration of one batched capture write transaction',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const dbWriteRows = new Counter({ name: `${P}db_write_rows_total`, help: 'Captures written by the batched writer', registers: [registry] });
  counterFrom(registry, 'db_write_failures_total', 'Batched writes that failed (kept and retried)', [], () => [[{}, sources.capture().store.failures]]);
  gaugeFrom(registry, 'store_failing', 'Capture writes failing now (disk full, read-only, database locked): 1, and capture intake is paused', [], () => [
    [{}, sources.capture().store.state === 'failing' ? 1 : 0],
  ]);
  counterFrom(registry, 'store_outages_total', 'Times capture writes started failing', [], () => [[{}, sources.capture().store.outages ?? 0]]);
  counterFrom(registry, 'store_turn_waits_total', "Capture write batches that waited for the BTN write thread's turn (write-turn.ts) instead of meeting it in SQLite's lock", [], () => [
    [{}, sources.capture().store.turnWaits ?? 0],
  ]);
  // WAL checkpoints of the checkpoint worker (database.checkpoint.worker): the WAL's length in pages
  // at the last one and what of it was not yet copied (a reader's old snapshot, commits racing it).
  const none = { walFrames: 0, walFramesPending: 0, checkpoints: 0, failures: 0, running: false, fallbackActive: false };
  const cp = (): Pick<WalCheckpointStatus, keyof typeof none> => checkpoints?.() ?? none;
  gaugeFrom(registry, 'db_wal_frames', 'Pages in the WAL at the last checkpoint (all, and not yet copied into the database)', ['state'], () => {
    const c = cp();
    return [
      [{ state: 'all' }, c.walFrames],
      [{ state: 'pending' }, c.walFramesPending],
    ];
  });
  counterFrom(registry, 'db_checkpoints_total', 'WAL checkpoints run by the checkpoint worker, by result', ['result'], () => {
    const c = cp();
    return [
      [{ result: 'ok' }, c.checkpoints],
      [{ result: 'failed' }, c.failures],
    ];
  });
  gaugeFrom(registry, 'db_checkpoint_worker_up', 'The checkpoint worker is running (0: SQLite checkpoints inside commits on the event loop)', [], () => [
    [{}, cp().running ? 1 : 0],
  ]);
  gaugeFrom(registry, 'db_checkpoint_fallback', 'The WAL reached database.checkpoint.walMaxBytes: SQLite checkpoints inside commits until it starts over (1)', [], () => [
    [{}, cp().fallbackActive ? 1 : 0],
  ]);
  const checkpointSeconds = new Histogram({
    name: `${P}db_checkpoint_duration_seconds`,
    help: 'Duration of one WAL checkpoint on the checkpoint worker (off the event loop)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const retentionRows = new Counter({
    name: `${P}retention_deleted_rows_total`,
    help: 'Rows retention deleted, by table',
    labelNames: ['table'],
    registers: [registry],
  });

  return {
    registry,
    observe: {
      capture(done) {
        const result = done.ok ? 'ok' : 'failed';
        captures.inc({ result, reason: done.ok ? 'none' : captureFailureReason(done.error ?? '') });
        captureSeconds.observe({ result }, done.durationMs / 1000);
      },
      dbWrite(rows, durationMs) {
        dbWriteSeconds.observe(durationMs / 1000);
        dbWriteRows.inc(rows);
      },
      apiRequest(route, method, status, durationMs) {
        apiSeconds.observe({ route, method, status: String(status) }, durationMs / 1000);
      },
      retention(table, rows) {
        if (rows > 0) retentionRows.inc({ table }, rows);
      },
      checkpoint(durationMs) {
        checkpointSeconds.observe(durationMs / 1000);
      },
    },
  };
}
