import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DhtStats } from '../../../src/dht/dht-module.js';
import type { NotifyStatus, TargetStatus } from '../../../src/notify/types.js';
import { createDashboard } from '../../../src/ops/dashboard/dashboard-module.js';
import { createMetrics, registerRetentionPaceMetrics } from '../../../src/ops/metrics.js';
import { startMetricsServer, type MetricsServer } from '../../../src/ops/metrics-server.js';
import type { OpsSources } from '../../../src/ops/ports.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

const target = (backlog: number, oldest: string | null): TargetStatus => ({
  enabled: true, backlog, oldestPendingAt: oldest, parked: 1, lastSuccessAt: null, lastError: null, delivered: 7,
  failed: 2, retried: 0, parkedSinceStart: 1, nextRetryAt: null, connected: true, details: {},
});

/** Sources with distinct, recognisable values (the counters as the stages keep them). */
function sources(): OpsSources {
  const dht = {
    enabled: true, nodes: 42, packetsIn: 1000, packetsOut: 900, krpcPending: 3, krpcPendingHighWater: 9, droppedKrpcPending: 4,
    socket: {
      packetsIn: 1000, packetsOut: 900, bytesIn: 50_000, bytesOut: 40_000, queriesReceived: 300, responsesReceived: 500,
      errorsReceived: 5, queriesSent: 600, repliesSent: 290, timeouts: 95, unexpectedReplies: 1, decodeErrors: 0, handlerErrors: 0,
      sendErrors: 0, perIpDelayed: 12, droppedQueueFull: 6, droppedQueueTimeout: 7, droppedReplyBudget: 8, droppedDestination: 2,
      droppedOtherFamily: 0, resolveFailures: 0, lastReplyAt: Date.now() - 3000, queued: 11, awaitingReply: 20, queueHighWater: 30,
      queriesSentByType: { ping: 10, find_node: 100, get_peers: 480, announce_peer: 0, sample_infohashes: 10, other: 0 },
    },
    responder: { answered: { ping: 100, find_node: 100, get_peers: 80, announce_peer: 10, sample_infohashes: 5 }, errors: { protocol: 1, badToken: 0, unknownMethod: 2 }, announcesHarvested: 10, seenInfohashes: 3, storedPeers: 4 },
    lookups: { watched: 5, running: 2, urgentQueued: 1, sampledQueued: 13, started: 50, completed: 40, timedOut: 6, failed: 1, peersFound: 77, droppedUrgent: 0, droppedSampled: 3, watchedRefreshErrors: 0, invalid: 0 },
    samples: null, table: null, health: { bad: 1, wentBad: 2, refused: 3 },
    peersFound: { get_peers: 70, announce: 5, sample: 2, manual: 0 }, peersDuplicate: 9, onPeerErrors: 0,
    ipv4Lookups: { started: 50, responded: 400, timedOut: 6, peers: 60, lastMs: 900 },
    peersFoundByFamily: { ipv4: 50, ipv6: 27 },
    ipv6: {
      enabled: true, running: true, error: null,
      node: { family: 6, nodes: 17, packetsIn: 300, packetsOut: 250, lookups: { started: 50, responded: 120, timedOut: 9, peers: 31, lastMs: 700 } },
    },
  } as unknown as DhtStats;
  const notify: NotifyStatus = {
    outbox: { pending: 5, parked: 2, maxRows: 1000, overLimit: false },
    amqp: target(5, new Date(Date.now() - 10_000).toISOString()),
    email: target(0, null),
  };
  return {
    dht: () => dht,
    capture: () => ({
      scheduler: { queued: 17, running: 3, started: 100, completed: 90, failed: 7, droppedQueueFull: 19, timedOut: 2 },
      pipeline: { queued: 100, 'no-match': 50, 'queue-full': 19, metadataFetched: 4, pcapFailed: 0, metadataWanted: 2 },
      store: { pending: 21, written: 88, batches: 5, failures: 1, refused: 23, state: 'failing', consecutiveFailures: 1, outages: 1, lastError: 'disk full', nextAttemptAt: 0, turnWaits: 12 },
      outcomes: {
        total: 12,
        byReason: { captured: 6, 'encryption-required': 3, 'connect-refused': 2, 'choked-and-silent': 1 },
        byTransport: { tcp: { attempts: 12, captured: 7 }, 'tcp+mse': { attempts: 3, captured: 3 } },
        byTransportReason: { tcp: { captured: 6, 'connect-refused': 2 }, utp: { captured: 1 } },
        byClient: { qBittorrent: { captured: 4, 'connect-refused': 1 }, unknown: { 'connect-timeout': 6 } },
        encryptedRetries: { tried: 3, captured: 2 },
        peersRequiringEncryption: 4,
        peersRefusingEncryption: 1,
        encryptionMemoryCapacity: 500_000,
      },
      memory: { limitBytes: 268_435_456, reservedBytes: 1_048_576, peakReservedBytes: 4_194_304, refusedCaptures: 13, refusedGrowths: 14 },
      peerValueTrust: { checked: 40, phantoms: 5, distrustedDrops: 7, nodesDistrusted: 1, nodesTracked: 9 },
    }),
    notify: () => notify,
  };
}

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function line(text: string, prefix: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(prefix));
}

describe('Prometheus metrics', () => {
  it('serve every stage on their own listener, pass promtool check metrics, and read the stages’ own counters', async () => {
    const m = createMetrics(sources(), { space: () => ({ pageSize: 4096, pageCount: 100, freelistCount: 10, usedBytes: 368_640, autoVacuum: 2 }) }, { main: () => 409_600, wal: () => 4096 });
    m.observe.capture({ ok: true, durationMs: 1200, metadataOnly: false });
    m.observe.capture({ ok: false, error: 'connect timeout', durationMs: 5000, metadataOnly: false });
    m.observe.capture({ ok: false, error: 'protocol: malformed have message', durationMs: 300, metadataOnly: false });
    m.observe.dbWrite(500, 12);
    m.observe.apiRequest('/capture/peers/all/', 'GET', 200, 3.5);
    m.observe.retention('captures', 1000);
    // Retention's pace (registered by the ops module beside its Retention): configured 1,000/s, raised once.
    registerRetentionPaceMetrics(m.registry, () => ({ rowsPerSecond: 1000, vacuumPagesPerSecond: 1000, factor: 2, raises: 1, lagMs: 90_000 }));
    // The dashboard's live-stream metrics live in the same registry.
    createDashboard(
      { store: { series: () => [], counts: () => [], torrents: () => [] }, sources: sources(), keys: () => ({ authorize: () => ({ name: 'k', mayUseFilter: () => true }) }), watchedCount: () => 0, logger: silentLogger() },
      { enabled: true, tickMs: 5000, maxClients: 4, heartbeatMs: 15_000, sessionTtlMs: 3_600_000 },
    ).registerMetrics(m.registry);
    server = await startMetricsServer(m.registry, { host: '127.0.0.1', port: 0 }, silentLogger());
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();

    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(promtool.error, 'promtool (Debian package prometheus) must be installed: .ci/run installs it').toBeUndefined();
    expect(`${promtool.stdout}${promtool.stderr}`).toBe('');
    expect(promtool.status).toBe(0);

    expect(line(text, 'capture_daemon_queue_depth{stage="capture"}')).toMatch(/ 17$/);
    expect(line(text, 'capture_daemon_queue_depth{stage="store"}')).toMatch(/ 21$/);
    expect(line(text, 'capture_daemon_queue_depth{stage="outbox_amqp"}')).toMatch(/ 5$/);
    expect(line(text, 'capture_daemon_queue_dropped_total{stage="capture",reason="queue_full"}')).toMatch(/ 19$/);
    expect(line(text, 'capture_daemon_queue_dropped_total{stage="store",reason="queue_full"}')).toMatch(/ 23$/);
    expect(line(text, 'capture_daemon_store_failing')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_store_outages_total')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_store_turn_waits_total')).toMatch(/ 12$/);
    expect(line(text, 'capture_daemon_dht_packets_total{direction="in"}')).toMatch(/ 1000$/);
    expect(line(text, 'capture_daemon_dht_queries_total{direction="out",type="get_peers"}')).toMatch(/ 480$/);
    expect(line(text, 'capture_daemon_dht_queries_total{direction="in",type="announce_peer"}')).toMatch(/ 10$/);
    expect(line(text, 'capture_daemon_dht_budget_refusals_total{kind="reply_budget"}')).toMatch(/ 8$/);
    expect(line(text, 'capture_daemon_dht_routing_table_nodes ')).toMatch(/ 42$/);
    expect(line(text, 'capture_daemon_dht_family_routing_table_nodes{family="ipv6"}')).toMatch(/ 17$/);
    expect(line(text, 'capture_daemon_dht_family_routing_table_nodes{family="ipv4"}')).toMatch(/ 42$/);
    expect(line(text, 'capture_daemon_dht_family_packets_total{family="ipv6",direction="out"}')).toMatch(/ 250$/);
    expect(line(text, 'capture_daemon_dht_family_lookup_peers_total{family="ipv6"}')).toMatch(/ 31$/);
    expect(line(text, 'capture_daemon_dht_peers_found_by_family_total{family="ipv6"}')).toMatch(/ 27$/);
    expect(line(text, 'capture_daemon_dht_ipv6_running')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_dht_lookups_total{result="timed_out"}')).toMatch(/ 6$/);
    expect(line(text, 'capture_daemon_captures_total{result="failed",reason="connect_timeout"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_captures_total{result="failed",reason="protocol"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_capture_duration_seconds_count{result="ok"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_metadata_fetches_total ')).toMatch(/ 4$/);
    expect(line(text, 'capture_daemon_capture_outcomes_total{reason="encryption_required"}')).toMatch(/ 3$/);
    expect(line(text, 'capture_daemon_capture_outcomes_total{reason="choked_and_silent"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_capture_attempts_total{transport="tcp_mse",result="captured"}')).toMatch(/ 3$/);
    expect(line(text, 'capture_daemon_capture_attempts_total{transport="tcp",result="failed"}')).toMatch(/ 5$/);
    expect(line(text, 'capture_daemon_dht_values_dropped_total{reason="phantom"}')).toMatch(/ 5$/);
    expect(line(text, 'capture_daemon_dht_bad_nodes ')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_dht_nodes_gone_bad_total ')).toMatch(/ 2$/);
    expect(line(text, 'capture_daemon_dht_queries_skipped_bad_node_total ')).toMatch(/ 3$/);
    expect(line(text, 'capture_daemon_capture_memory_budget_bytes ')).toMatch(/ 268435456$/);
    expect(line(text, 'capture_daemon_capture_memory_reserved_bytes ')).toMatch(/ 1048576$/);
    expect(line(text, 'capture_daemon_capture_memory_reserved_peak_bytes ')).toMatch(/ 4194304$/);
    expect(line(text, 'capture_daemon_capture_memory_refusals_total{kind="capture"}')).toMatch(/ 13$/);
    expect(line(text, 'capture_daemon_capture_memory_refusals_total{kind="metadata"}')).toMatch(/ 14$/);
    expect(line(text, 'capture_daemon_capture_outcomes_by_client_total{client="qBittorrent",reason="connect_refused"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_capture_outcomes_by_client_total{client="unknown",reason="connect_timeout"}')).toMatch(/ 6$/);
    expect(line(text, 'capture_daemon_capture_outcomes_by_transport_total{transport="tcp",reason="connect_refused"}')).toMatch(/ 2$/);
    expect(line(text, 'capture_daemon_capture_outcomes_by_transport_total{transport="utp",reason="captured"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_capture_encrypted_retries_total{result="captured"}')).toMatch(/ 2$/);
    expect(line(text, 'capture_daemon_capture_encryption_memory_peers{way="encrypted"}')).toMatch(/ 4$/);
    expect(line(text, 'capture_daemon_capture_encryption_memory_peers{way="plain"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_capture_encryption_memory_capacity ')).toMatch(/ 500000$/);
    // The process-wide MSE DH pool: declared (its counters appear once it has done work).
    expect(text).toContain('# TYPE capture_daemon_capture_mse_dh_total counter');
    expect(text).toContain('# TYPE capture_daemon_capture_mse_dh_thread_failures_total counter');
    expect(line(text, 'capture_daemon_dashboard_streams ')).toMatch(/ 0$/);
    expect(line(text, 'capture_daemon_dashboard_stream_connections_total{result="refused"}')).toMatch(/ 0$/);
    expect(line(text, 'capture_daemon_outbox_backlog{target="amqp"}')).toMatch(/ 5$/);
    const lag = Number(line(text, 'capture_daemon_outbox_delivery_lag_seconds{target="amqp"}')?.split(' ')[1]);
    expect(lag).toBeGreaterThanOrEqual(10);
    expect(lag).toBeLessThan(60);
    expect(line(text, 'capture_daemon_http_request_duration_seconds_count{route="/capture/peers/all/",method="GET",status="200"}')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_db_used_bytes ')).toMatch(/ 368640$/);
    expect(line(text, 'capture_daemon_db_file_bytes{file="main"}')).toMatch(/ 409600$/);
    expect(line(text, 'capture_daemon_db_write_duration_seconds_count ')).toMatch(/ 1$/);
    expect(line(text, 'capture_daemon_db_write_rows_total ')).toMatch(/ 500$/);
    expect(line(text, 'capture_daemon_retention_deleted_rows_total{table="captures"}')).toMatch(/ 1000$/);
    expect(line(text, 'capture_daemon_retention_pace_rows_per_second ')).toMatch(/ 2000$/);
    expect(line(text, 'capture_daemon_retention_lag_seconds ')).toMatch(/ 90$/);
    expect(line(text, 'capture_daemon_process_resident_memory_bytes ')).toBeDefined();
    expect(line(text, 'capture_daemon_nodejs_eventloop_lag_seconds ')).toBeDefined();

    // The Grafana dashboard in docs/ queries only metrics the daemon exports, in valid PromQL.
    const dashboard = JSON.parse(readFileSync('docs/grafana-dashboard.json', 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(20);
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/capture_daemon_\w+/g)) {
        expect(exported, `${name} in the dashboard`).toContain(name.replace(/_(bucket|count|sum)$/, ''));
      }
    }
    const t = tempDir('cd-dash-');
    try {
      const rules = path.join(t.dir, 'rules.yml');
      const asRules = exprs.map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(e.replaceAll('$job', '.*'))}`);
      writeFileSync(rules, `groups:\n  - name: dashboard\n    rules:\n${asRules.join('\n')}\n`);
      const check = spawnSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`).toContain('SUCCESS');
      expect(check.status).toBe(0);
    } finally {
      t.cleanup();
    }
  });

  it('want the bearer token when one is configured, and serve nothing but GET /metrics', async () => {
    const m = createMetrics(sources(), { space: () => ({ pageSize: 4096, pageCount: 1, freelistCount: 0, usedBytes: 4096, autoVacuum: 0 }) }, { main: () => 0, wal: () => 0 });
    const token = 'scrape-token-0123456789';
    server = await startMetricsServer(m.registry, { host: '127.0.0.1', port: 0, bearerToken: token }, silentLogger());
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('capture_daemon_build_info');
    expect((await fetch(`${server.url}/capture/peers/all/`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});
