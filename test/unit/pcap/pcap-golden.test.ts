/**
 * The writer's output for fixed BitTorrent conversations must match the committed golden pcaps
 * byte for byte. After an intended format change, regenerate them with
 *   UPDATE_GOLDEN=1 npx vitest run test/unit/pcap/pcap-golden.test.ts
 * and re-run the tshark test (which also checks the golden files) before committing.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPcap } from '../../../src/pcap/pcap-file.js';
import { FIXTURE_DIR, V4_CONVERSATION, V6_CONVERSATION } from './bt-conversation.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

const cases = [
  { name: 'bittorrent-ipv4.pcap', conv: V4_CONVERSATION },
  { name: 'bittorrent-ipv6.pcap', conv: V6_CONVERSATION },
];

describe('pcap golden files', () => {
  for (const { name, conv } of cases) {
    it(`${name} matches byte for byte`, () => {
      const file = path.join(FIXTURE_DIR, name);
      const built = buildPcap(conv());
      if (UPDATE) {
        // Atomic, since the tshark test file (running in parallel) reads these.
        writeFileSync(`${file}.tmp`, built);
        renameSync(`${file}.tmp`, file);
      }
      expect(existsSync(file), `${file} missing: run with UPDATE_GOLDEN=1`).toBe(true);
      const golden = readFileSync(file);
      expect(built.length).toBe(golden.length);
      // Compare as hex so a mismatch shows where the bytes differ.
      expect(built.toString('hex')).toBe(golden.toString('hex'));
    });
  }

  it('is deterministic across builds', () => {
    expect(buildPcap(V4_CONVERSATION()).equals(buildPcap(V4_CONVERSATION()))).toBe(true);
  });
});
