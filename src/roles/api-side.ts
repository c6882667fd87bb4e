import path from 'node:path';
import { createBtnModule } from '../btn/module.js';
import { FilterRegistry } from '../filter/filter-registry.js';
import { createApiModule } from '../http/api-module.js';
import { createOpsModule } from '../ops/module.js';
import { openBtnStore } from '../store/btn-store.js';
import { apiWritesInTurn, writeTurnOf } from '../store/write-turn.js';
import { createSpamModule } from '../spam/module.js';
import { spamRuleSource } from '../daemon/spam-rule-source.js';
import type { RoleContext } from './role-context.js';

/**
 * The HTTP side of the roles that serve it (all, api): the spam list, the BTN server fed by its
 * rules, their retention, and the API carrying them (and the dashboard) on one listener.
 */
export async function startApiSide(
  ctx: RoleContext,
  ops: ReturnType<typeof createOpsModule>,
  filters: FilterRegistry,
  onMetadataWanted?: (infohash: string) => void,
): Promise<{ api: ReturnType<typeof createApiModule>; btn: ReturnType<typeof createBtnModule> }> {
  const { store, life, logger } = ctx;
  const spam = await life.start(createSpamModule({ store: store.spam, evidence: store.evidence, keys: ctx.keys, logger }, () => ctx.config().spam));
  const spamRules = spamRuleSource((q) => spam.service.list(q), () => ctx.config().spam);
  const btnStore = openBtnStore(store.db, { writeThread: true });
  life.onStop(() => btnStore.close()); // after the BTN module's stop (stops run last-registered first)
  const turn = writeTurnOf(store.db);
  const btn = await life.start(createBtnModule({ ...btnStore, spam: spamRules, writeTurn: turn, logger }, { config: () => ctx.config().btn }));
  // Aged out on the retention thread (its own connection, retention-thread-targets.ts); these are the fallback on the event loop.
  ops.registerRetention({ name: 'btnSubmissions', deleteOlderThan: (before, limit) => btnStore.submissions.deleteOlderThan(before, limit), onThread: true });
  ops.registerRetention({ name: 'spamReports', deleteOlderThan: (before, limit) => store.spam.deleteReportsOlderThan(before, limit), onThread: true });
  const api = await life.start(
    createApiModule(
      {
        modules: [btn.http, spam.http, ...(ops.dashboard ? [ops.dashboard] : [])],
        keys: ctx.keys, pageSize: () => ctx.config().http.pageSize, filters, captures: store.captures,
        // API changes wait for the BTN write thread's transaction in the write turn, not in SQLite's lock (a 503 after 50 ms).
        torrents: apiWritesInTurn(store.db, store).torrents,
        ...(onMetadataWanted ? { onMetadataWanted } : {}), ops: ops.api, logger, storageDir: path.dirname(ctx.config().database.path),
      },
      ctx.config().http,
    ),
  );
  return { api, btn };
}
