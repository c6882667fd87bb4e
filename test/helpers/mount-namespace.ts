import { spawnSync } from 'node:child_process';

/**
 * Runs commands in a private mount namespace (`unshare -m`), where tmpfs mounts (a small disk, a
 * read-only one) are visible to that process tree only. Needs root (CI runs as root).
 * `unavailable` says why it cannot be used here, else undefined.
 */
export const mountNamespaceUnavailable: string | undefined = (() => {
  if (process.platform !== 'linux') return 'not Linux';
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'], { encoding: 'utf8' });
  if (r.error) return `unshare not found (${r.error.message})`;
  return r.status === 0 ? undefined : `needs root for unshare -m and mount (${r.stderr.trim()})`;
})();

/** `sh -c` script that mounts a tmpfs of `sizeKb` at `dir` (read-only if `ro`) and then runs `exec`. */
export function inMountNamespace(mounts: Array<{ dir: string; sizeKb: number; ro?: boolean; fill?: boolean }>, exec: string[]): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const steps = mounts.flatMap((m) => [
    `mkdir -p ${q(m.dir)}`,
    `mount -t tmpfs -o size=${m.sizeKb}k${m.ro ? ',ro' : ''} tmpfs ${q(m.dir)}`,
    ...(m.fill ? [`dd if=/dev/zero of=${q(`${m.dir}/filler`)} bs=1k count=${m.sizeKb + 64} 2>/dev/null; true`] : []),
  ]);
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${steps.join(' && ')} && exec ${exec.map(q).join(' ')}`];
}
