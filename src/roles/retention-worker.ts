import { RetentionWorker } from '../store/retention-worker.js';
import type { RoleContext } from './role-context.js';

/** Where retention's steps run on a SQLite store: the retention thread (retention.thread), the event loop as its fallback. */
export function retentionWorker(ctx: RoleContext): RetentionWorker {
  const config = ctx.config();
  return new RetentionWorker(
    { db: ctx.store.db, local: ctx.store.ops, logger: ctx.logger.child({ component: 'retention' }) },
    { thread: config.retention.thread, walMaxBytes: config.database.checkpoint.walMaxBytes },
  );
}
