import type { ResolvedConfig } from './load-config.js';

/** Config keys whose change needs a restart (reload keeps the running value and says so). */
export const RESTART_KEYS = ['dataDir', 'database', 'store', 'http.listen', 'admin', 'dht', 'geoip', 'pcap', 'capture', 'notify', 'btn.enabled', 'spam.enabled', 'spam.rateLimit', 'spam.evidence'] as const;

function get(obj: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

/**
 * The config a reload applies: everything from `next`, except the keys that need a restart, which
 * keep their running values (listed in `restartNeeded` when they differ).
 */
export function mergeReloaded(running: ResolvedConfig, next: ResolvedConfig): { config: ResolvedConfig; restartNeeded: string[] } {
  const restartNeeded = RESTART_KEYS.filter((k) => JSON.stringify(get(next, k)) !== JSON.stringify(get(running, k)));
  const merged = { ...next } as Record<string, unknown>;
  for (const k of restartNeeded) {
    const top = k.split('.')[0] as string;
    merged[top] = k.includes('.') ? { ...(merged[top] as object), [k.split('.')[1] as string]: get(running, k) } : get(running, k);
  }
  return { config: merged as ResolvedConfig, restartNeeded };
}
