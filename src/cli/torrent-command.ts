import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { adminRequest } from '../daemon/admin-client.js';
import { parseInfoHash } from '../model/infohash.js';
import { parseTorrentFile } from '../protocol/metainfo.js';
import { SqliteTorrentRepository } from '../store/torrent-repository.js';
import { CliError, findDaemonSocket, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';
import { ProgressBar } from './progress-bar.js';

/** Imports every *.torrent file of a directory (not recursive); a bad file is reported, not fatal. */
function addDirectory(dir: string, repo: SqliteTorrentRepository): { added: number; failed: Array<{ file: string; error: string }> } {
  const files = readdirSync(dir)
    .filter((f) => f.toLowerCase().endsWith('.torrent'))
    .sort();
  const bar = new ProgressBar('import');
  const failed: Array<{ file: string; error: string }> = [];
  let added = 0;
  files.forEach((f, i) => {
    try {
      repo.putMetadata(parseTorrentFile(readFileSync(path.join(dir, f))), 'cli');
      added++;
    } catch (err) {
      failed.push({ file: f, error: (err as Error).message });
    }
    bar.update(i + 1, files.length, `${i + 1}/${files.length} files`);
  });
  bar.done();
  return { added, failed };
}

export function registerTorrent(program: Command): void {
  const torrent = program.command('torrent').description('manage the torrents the daemon knows');
  torrent
    .command('add')
    .description('add a .torrent file or every .torrent file of a directory (metadata known at once), or a bare infohash (metadata fetched from peers)')
    .argument('<file-dir-or-infohash>', 'path of a .torrent file, of a directory of them, or 40 hex characters')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action(async (target: string, opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
      if (statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
        const result = withDatabase(loaded, (db) => addDirectory(target, new SqliteTorrentRepository(db)));
        if (opts.json) printJson(result);
        else {
          process.stdout.write(`${target}: ${result.added} torrent(s) added${result.failed.length ? `, ${result.failed.length} failed:` : ''}\n`);
          for (const f of result.failed) process.stdout.write(`  ${f.file}: ${f.error}\n`);
        }
        if (result.failed.length > 0) process.exitCode = 1;
        return;
      }
      const infohash = parseInfoHash(target);
      const info = withDatabase(loaded, (db) => {
        const repo = new SqliteTorrentRepository(db);
        if (infohash) {
          repo.addPending(infohash, 'cli');
          return repo.get(infohash);
        }
        let bytes: Buffer;
        try {
          bytes = readFileSync(target);
        } catch (err) {
          throw new CliError(`"${target}" is neither an infohash (40 hex characters) nor a readable file: ${(err as NodeJS.ErrnoException).code ?? err}`);
        }
        const meta = parseTorrentFile(bytes);
        repo.putMetadata(meta, 'cli');
        return repo.get(meta.infohash);
      });
      if (info.state === 'pending') {
        // Tell a running daemon to look it up now; without one, it is looked up at the next start.
        const { socket } = await findDaemonSocket(opts);
        await adminRequest(socket, 'POST', `/torrents/wanted?infohash=${info.infohash}`).catch(() => undefined);
      }
      if (opts.json) return printJson(info);
      process.stdout.write(
        info.state === 'known'
          ? `${info.infohash} known: ${info.name} (${info.pieceCount} pieces of ${info.pieceLength} bytes, ${info.totalSize} bytes)\n`
          : `${info.infohash} pending: metadata will be fetched from peers\n`,
      );
    });
}
