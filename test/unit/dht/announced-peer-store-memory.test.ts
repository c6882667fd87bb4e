import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Measured in a fresh process: in the test runner's own process, other files' leftovers allocated
// 3.5-10 MiB of ArrayBuffers between the two readings and failed the bound in full-suite runs.
const CHILD = fileURLToPath(new URL('../../helpers/announced-peer-store-memory-child.ts', import.meta.url));

describe('AnnouncedPeerStore memory', () => {
  it('keeps no slice of the shared Buffer pool alive (a 6-byte peer must not pin an 8 KiB slab)', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD], { encoding: 'utf8', timeout: 60_000 });
    const { held, size, peer } = JSON.parse(out) as { held: number; size: number; peer: number[] | null };
    expect(size).toBe(2000);
    // The old store (compact Buffers from Buffer.allocUnsafe) held ~2,000 slabs: ~16 MiB.
    expect(held).toBeLessThan(2 * 2 ** 20);
    // And what it serves back is still the compact peer.
    expect(peer?.length).toBe(6);
    expect(((peer?.[4] ?? 0) << 8) | (peer?.[5] ?? 0)).toBe(6881);
    expect(peer?.[0]).toBe(10);
  }, 60_000);
});
