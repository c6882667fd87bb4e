import type { SpamListed, SpamListSource } from '../btn/ports.js';
import type { ListPage, ListQuery } from '../spam/ports.js';

/** Torrents read per page of the spam list. */
const PAGE = 1000;

/**
 * The spam list as a BTN rule source: its listed torrents (count above spam.listThreshold, the
 * default listing), in key order, paged, at most `limit`. Nothing while the spam list is off.
 */
export function spamRuleSource(list: (q: ListQuery) => ListPage, config: () => { enabled: boolean; listThreshold: number }): SpamListSource {
  return {
    listed(limit: number): SpamListed[] {
      const c = config();
      if (!c.enabled || limit <= 0) return [];
      const out: SpamListed[] = [];
      let after: number | undefined;
      for (let pages = 0; out.length < limit && pages < Math.ceil(limit / PAGE) + 1; pages++) {
        const page = list({ kind: 'above', threshold: c.listThreshold, after, limit: Math.min(PAGE, limit - out.length) });
        for (const e of page.entries) {
          out.push({ infohash: e.infohash, name: e.name, count: e.count, reasons: e.reasons.map((r) => ({ code: r.code, detail: r.detail })) });
        }
        const last = page.entries.at(-1);
        if (!page.hasMore || last === undefined) break;
        after = last.id;
      }
      return out;
    },
  };
}
