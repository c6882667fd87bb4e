import { SqliteBtnSubmissionRepository } from './btn-submission-repository.js';
import type { Db } from './open-database.js';
import { SqliteSpamRepository } from './spam-repository.js';

/**
 * Other modules' tables the retention thread (retention-thread.ts) ages out on its own connection,
 * by the name they register under (retention.maxAgeDays key): each deletes at most `limit` rows
 * older than `before` (epoch ms) in one transaction, with the repository the module itself uses (its
 * counts kept exact). Neither repository caches what these deletes change.
 */
export const RETENTION_THREAD_TARGETS = {
  btnSubmissions: (db: Db) => {
    const repo = new SqliteBtnSubmissionRepository(db);
    return (before: number, limit: number): number => repo.deleteOlderThan(before, limit);
  },
  spamReports: (db: Db) => {
    const repo = new SqliteSpamRepository(db);
    return (before: number, limit: number): number => repo.deleteReportsOlderThan(before, limit);
  },
} satisfies Record<string, (db: Db) => (before: number, limit: number) => number>;

export type RetentionThreadTarget = keyof typeof RETENTION_THREAD_TARGETS;

export function isRetentionThreadTarget(name: string): name is RetentionThreadTarget {
  return Object.hasOwn(RETENTION_THREAD_TARGETS, name);
}
