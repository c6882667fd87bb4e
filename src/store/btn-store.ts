import { SqliteBtnAppRepository } from './btn-app-repository.js';
import { SqliteBtnQueryRepository } from './btn-query-repository.js';
import { SqliteBtnSubmissionRepository } from './btn-submission-repository.js';
import { SqliteBtnUserRepository } from './btn-user-repository.js';
import type { Db } from './open-database.js';

/** The SQLite adapters of the BTN domain's ports (src/btn/ports.ts). */
export function openBtnStore(db: Db): {
  apps: SqliteBtnAppRepository;
  submissions: SqliteBtnSubmissionRepository;
  queries: SqliteBtnQueryRepository;
  captures: SqliteBtnQueryRepository;
  users: SqliteBtnUserRepository;
} {
  const queries = new SqliteBtnQueryRepository(db);
  return {
    apps: new SqliteBtnAppRepository(db),
    submissions: new SqliteBtnSubmissionRepository(db),
    queries,
    captures: queries,
    users: new SqliteBtnUserRepository(db),
  };
}
