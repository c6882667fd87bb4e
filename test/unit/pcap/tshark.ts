/**
 * Runs tshark over a pcap and returns one row per frame with the requested fields. Checksum
 * validation is switched on (it is off by default) and the peer port is decoded as BitTorrent.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TSHARK_PATH: string | null = (() => {
  const r = spawnSync('which', ['tshark'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
})();

/** Expert-info severities (epan/proto.h): PI_CHAT < PI_NOTE < PI_WARN < PI_ERROR. */
export const PI_NOTE = 0x00400000;

export type Row = Record<string, string[]>;

export function tsharkArgs(file: string, btPort: number, fields: string[]): string[] {
  return [
    '-r', file,
    '-n',
    '-o', 'tcp.check_checksum:TRUE',
    '-o', 'ip.check_checksum:TRUE',
    '-d', `tcp.port==${btPort},bittorrent`,
    '-T', 'fields',
    '-E', 'separator=/t',
    '-E', 'occurrence=a',
    '-E', 'aggregator=|',
    ...fields.flatMap((f) => ['-e', f]),
  ];
}

export async function tsharkFields(file: string, btPort: number, fields: string[]): Promise<Row[]> {
  if (!TSHARK_PATH) throw new Error('tshark is not installed');
  const { stdout } = await run(TSHARK_PATH, tsharkArgs(file, btPort, fields), { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const cols = line.split('\t');
      const row: Row = {};
      fields.forEach((f, i) => {
        const v = cols[i] ?? '';
        row[f] = v === '' ? [] : v.split('|');
      });
      return row;
    });
}

/** All values of one field across the capture, in frame order. */
export const all = (rows: Row[], field: string): string[] => rows.flatMap((r) => r[field] ?? []);
