import { execFileSync, spawn } from 'node:child_process';

/**
 * Runs `main` inside a fresh network namespace holding only loopback: started normally, the script
 * re-executes itself under `unshare --net --fork` (with the hard limit of open files) and exits with
 * its child's code; inside, `main` runs. `name` prefixes the error lines.
 */
export async function runInIsolatedNetwork(name: string, self: string, main: () => Promise<void>, args: readonly string[] = []): Promise<void> {
  if (process.env.CAPTURE_BENCH_IN_NETNS !== undefined) {
    await main();
    return;
  }
  const child = spawn(
    'unshare',
    ['--net', '--fork', 'sh', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec env CAPTURE_BENCH_IN_NETNS=1 "$0" --import tsx "$@"', process.execPath, self, ...args],
    { stdio: 'inherit' },
  );
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('error', (err) => {
    console.error(`${name}: cannot run unshare: ${err.message}`);
    process.exit(2);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** Inside the namespace: brings lo up and aborts (exit 3) unless lo is the only interface. Returns the interfaces. */
export function isolateNetwork(name: string): string[] {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (l.split(':')[1] ?? '').trim().split('@')[0] ?? '');
  if (links.length !== 1 || links[0] !== 'lo') {
    console.error(`${name}: ABORT — the namespace must hold only lo, found: ${links.join(', ')}`);
    process.exit(3);
  }
  return links;
}
