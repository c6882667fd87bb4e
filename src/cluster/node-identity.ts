import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Named values kept across restarts (SqliteClusterState). */
export interface ClusterStateStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

/**
 * This node's cluster id: `cluster.nodeId` when set, else the one made at the first start and kept
 * in the store (`<hostname>-<6 hex>`), so a restarted crawler stays the same crawler.
 */
export function resolveNodeId(state: ClusterStateStore, configured: string | undefined): string {
  if (configured !== undefined) {
    state.set('node-id', configured);
    return configured;
  }
  const kept = state.get('node-id');
  if (kept !== undefined) return kept;
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40) || 'node';
  const made = `${host}-${randomBytes(3).toString('hex')}`;
  state.set('node-id', made);
  return made;
}

/** This crawler's DHT node id (20 bytes), made once and kept: each crawler has its own DHT identity. */
export function resolveDhtNodeId(state: ClusterStateStore): Buffer {
  const kept = state.get('dht-node-id');
  if (kept !== undefined && /^[0-9a-f]{40}$/.test(kept)) return Buffer.from(kept, 'hex');
  const id = randomBytes(20);
  state.set('dht-node-id', id.toString('hex'));
  return id;
}
