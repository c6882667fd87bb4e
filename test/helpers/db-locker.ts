import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Another process holding a write lock (BEGIN IMMEDIATE) on a SQLite file, as `sqlite3` or a backup tool would. */
export interface DbLocker {
  /** Resolves when the lock is released and the process has exited. */
  readonly released: Promise<void>;
  readonly child: ChildProcess;
}

/** Starts a process that takes the write lock on `file`, holds it `holdMs`, then commits and exits. Resolves once the lock is held. */
export async function holdWriteLock(file: string, holdMs: number): Promise<DbLocker> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 10000');
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); process.exit(0); }, Number(process.argv[2]));
  `;
  const child = spawn(process.execPath, ['--input-type=commonjs', '-e', script, file, String(holdMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const released = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`lock holder exited with ${code}`))));
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('error', reject);
    released.catch(reject);
  });
  return { released, child };
}
