import { describe, expect, it, vi } from 'vitest';
import { RoutingTableStore, type DhtNodeStore, type StoredDhtNode } from '../../../src/dht/routing-table-store.js';
import { silentLogger } from '../../../src/util/logger.js';

function store(fail = false) {
  const saves: StoredDhtNode[][] = [];
  const s: DhtNodeStore = {
    load: () => {
      if (fail) throw new Error('disk');
      return [{ host: '127.0.0.2', port: 1, id: null, lastSeen: 1 }];
    },
    save: (nodes) => {
      if (fail) throw new Error('disk');
      saves.push([...nodes]);
    },
  };
  return { s, saves };
}

describe('RoutingTableStore', () => {
  it('saves periodically and at stop, never an empty table, and survives a failing store', () => {
    vi.useFakeTimers();
    try {
      const { s, saves } = store();
      let nodes: StoredDhtNode[] = [];
      const t = new RoutingTableStore({ store: s, source: () => nodes, logger: silentLogger() }, { saveIntervalMs: 1000 });
      expect(t.load()).toHaveLength(1);
      t.start();
      vi.advanceTimersByTime(1000);
      expect(saves).toHaveLength(0); // empty: keep the last good table
      nodes = [{ host: '127.0.0.3', port: 2, id: new Uint8Array(20), lastSeen: 5 }];
      vi.advanceTimersByTime(1000);
      expect(saves).toHaveLength(1);
      t.stop();
      expect(saves).toHaveLength(2);
      vi.advanceTimersByTime(5000);
      expect(saves).toHaveLength(2);

      const bad = store(true);
      const t2 = new RoutingTableStore({ store: bad.s, source: () => nodes, logger: silentLogger() });
      expect(t2.load()).toEqual([]);
      t2.stop();
      expect(t2.stats().saveErrors).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
