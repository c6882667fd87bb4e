import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: the member whose hash of (member, key) is highest
 * owns the key. Every node computes the same owner from the same member list, and when a member
 * joins or leaves only the keys it gains or held move.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const m of members) {
    const w = createHash('sha1').update(m).update('\0').update(key).digest().readBigUInt64BE(0);
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}
