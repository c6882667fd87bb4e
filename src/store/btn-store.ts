import type { BtnSubmissionStore } from '../btn/ports.js';
import { SqliteBtnAppRepository } from './btn-app-repository.js';
import { SqliteBtnQueryRepository } from './btn-query-repository.js';
import { SqliteBtnSubmissionRepository } from './btn-submission-repository.js';
import { SqliteBtnUserRepository } from './btn-user-repository.js';
import { BtnWriteWorker, type BtnWriteWorkerOptions } from './btn-write-worker.js';
import type { Db } from './open-database.js';

export interface OpenBtnStoreOptions {
  /**
   * Write submissions on a worker thread with its own connection (btn-write-worker.ts): what the
   * daemon does. Ignored for an in-memory database (a second connection would not see it).
   */
  writeThread?: boolean | BtnWriteWorkerOptions;
}

/** The SQLite adapters of the BTN domain's ports (src/btn/ports.ts). `close()` ends the write thread. */
export function openBtnStore(
  db: Db,
  options: OpenBtnStoreOptions = {},
): {
  apps: SqliteBtnAppRepository;
  submissions: BtnSubmissionStore & { deleteOlderThan(before: number, limit: number): number };
  queries: SqliteBtnQueryRepository;
  captures: SqliteBtnQueryRepository;
  users: SqliteBtnUserRepository;
  /** Starts the write thread (if any) now instead of at the first submission. */
  start(): Promise<void>;
  close(): Promise<void>;
} {
  const queries = new SqliteBtnQueryRepository(db);
  const thread = options.writeThread && BtnWriteWorker.canUse(db)
    ? new BtnWriteWorker(db, options.writeThread === true ? {} : options.writeThread)
    : undefined;
  return {
    apps: new SqliteBtnAppRepository(db),
    submissions: thread ?? new SqliteBtnSubmissionRepository(db),
    queries,
    captures: queries,
    users: new SqliteBtnUserRepository(db),
    start: async () => thread?.start(),
    close: async () => thread?.close(),
  };
}
