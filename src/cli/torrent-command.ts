import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { adminRequest } from '../daemon/admin-client.js';
import { parseInfoHash } from '../model/infohash.js';
import { parseTorrentFile } from '../protocol/metainfo.js';
import { SqliteTorrentRepository } from '../store/torrent-repository.js';
import { CliError, findDaemonSocket, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';

export function registerTorrent(program: Command): void {
  const torrent = program.command('torrent').description('manage the torrents the daemon knows');
  torrent
    .command('add')
    .description('add a .torrent file (metadata known at once) or a bare infohash (metadata fetched from peers)')
    .argument('<file-or-infohash>', 'path of a .torrent file, or 40 hex characters')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action(async (target: string, opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
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
