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

/**
 * An ext4 file system in an image file, for a disk that turns read-only while in use (the kernel's
 * `errors=remount-ro`, triggered through /sys/fs/ext4/<dev>/trigger_fs_error) — tmpfs cannot be
 * remounted read-only while a file is open for writing (EBUSY), ext4 does it on an error, as real
 * disks do. Needs root, loop devices and mkfs.ext4. `unavailable` says why not, else undefined.
 */
export const ext4Unavailable: string | undefined = (() => {
  if (mountNamespaceUnavailable !== undefined) return mountNamespaceUnavailable;
  const r = spawnSync('sh', ['-c', 'command -v mkfs.ext4 >/dev/null && losetup -f >/dev/null && test -d /sys/fs/ext4'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'needs mkfs.ext4, a free loop device and /sys/fs/ext4';
})();

/** Creates an empty ext4 image of `sizeMb` MiB at `file`. */
export function makeExt4Image(file: string, sizeMb: number): void {
  const r = spawnSync('sh', ['-c', `truncate -s ${sizeMb}M '${file}' && mkfs.ext4 -q -F '${file}'`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs.ext4 failed: ${r.stderr}`);
}

/** argv that mounts `image` (ext4, errors=remount-ro) at `dir` in a private mount namespace, then execs `exec`. */
export function inExt4Namespace(image: string, dir: string, exec: string[]): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `mkdir -p ${q(dir)} && mount -o loop,errors=remount-ro ${q(image)} ${q(dir)} && exec ${exec.map(q).join(' ')}`];
}

/** Makes the ext4 file system of `image` (mounted by some namespace) go read-only now, as on a disk error. */
export function triggerReadOnly(image: string): void {
  const r = spawnSync('sh', ['-c', `dev=$(losetup -j '${image}' | cut -d: -f1 | head -1) && test -n "$dev" && echo 1 > /sys/fs/ext4/$(basename "$dev")/trigger_fs_error`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`could not make ${image} read-only: ${r.stderr}`);
}
