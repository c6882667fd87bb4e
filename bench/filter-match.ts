/**
 * Filter matching: CompiledFilters.match against a naive per-filter loop, in the same run.
 *
 * 1,000 filters holding 100,000 distinct infohashes (2% of the filters watch every torrent),
 * 10,000 CIDRs (IPv4 /8–/32, IPv6 /32–/64; some filters have none) and 50 country codes.
 * Workload: 1,000,000 pre-generated peers (50% watched infohashes, 60% IPv4 / 40% IPv6, 35% of
 * the addresses inside some filter subnet, 10% without a country).
 *
 * Both matchers get their addresses pre-parsed (compiled: parseIpBytes bytes; naive: ipaddr.js
 * objects); extra lines show the cost when each also parses the address text per check.
 * Also printed: compile time and memory, and what API addInfohash / deleteInfohash (patched) and a
 * config reload (full compile) block the event loop for.
 *
 *   node --expose-gc --import tsx bench/filter-match.ts     (PEERS=200000 to run smaller)
 */
import { pathToFileURL } from 'node:url';
import ipaddr from 'ipaddr.js';
import { CompiledFilters as TsxCompiledFilters, type CompiledFilters } from '../src/filter/compiled-filters.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { formatIpBytes, parseIpBytes } from '../src/filter/ip-bytes.js';
import type { OverlayChange } from '../src/store/filter-overlay-repository.js';
import { fmtBytes, fmtInt, header, median, passMiss, tryGc } from './lib.js';
import {
  buildFilters, buildNaive, buildWorkload, CIDRS, COUNTRIES, FILTERS, INFOHASHES, maskTo, naiveMatch, rng, step,
  type Cidr, type NaiveFilter,
} from './filter-workload.js';
import { emitAsTsc, importEmitted } from './tsc-emit.js';

// The same src files as tsc emits them (production runs dist/): see tsc-emit.ts for why.
emitAsTsc(['src/filter/compiled-filters.ts', 'src/filter/filter-core.ts', 'src/filter/infohash-part.ts', 'src/filter/cidr-trie.ts', 'src/filter/filter-sets.ts', 'src/filter/infohash-index.ts', 'src/filter/ip-bytes.ts']);
// FILTER_IMPL=/abs/path/candidate.mjs benches a candidate CompiledFilters (same API) in place of it.
const FILTER_IMPL = process.env.FILTER_IMPL;
const tsc = {
  ...(FILTER_IMPL
    ? ((await import(pathToFileURL(FILTER_IMPL).href)) as typeof import('../src/filter/compiled-filters.js'))
    : await importEmitted<typeof import('../src/filter/compiled-filters.js')>('src/filter/compiled-filters.ts')),
  ...(await importEmitted<typeof import('../src/filter/ip-bytes.js')>('src/filter/ip-bytes.ts')),
};

const PEERS = Number(process.env.PEERS ?? 1_000_000);
const NAIVE_PEERS = Math.min(PEERS, Number(process.env.NAIVE_PEERS ?? 20_000));
const SAMPLE = Math.min(PEERS, 10_000);
const ROUNDS = 7;
const TARGET_CHECKS_PER_S = 10_000_000;
const TARGET_RATIO = 100;

// ---------------------------------------------------------------- timing loops
// Two textually separate loops so each call site stays monomorphic (two CompiledFilters classes).
function runTsc(cf: CompiledFilters, ih: string[], ips: Uint8Array[], cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += cf.match(ih[i] as string, ips[i] as Uint8Array, cc[i]).length;
  return sink;
}

function runTsx(cf: CompiledFilters, ih: string[], ips: Uint8Array[], cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += cf.match(ih[i] as string, ips[i] as Uint8Array, cc[i]).length;
  return sink;
}

/** The loop alone: touches every input like a check does, matches nothing. */
function runHarness(ih: string[], ips: Uint8Array[], cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += (ih[i] as string).charCodeAt(7) + ((ips[i] as Uint8Array)[0] as number) + (cc[i]?.length ?? 0);
  return sink;
}

/** 10,000 peers cycled: inputs and the touched parts of the matcher stay in cache. */
function runTscHot(cf: CompiledFilters, ih: string[], ips: Uint8Array[], cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  const m = Math.min(10_000, ih.length);
  for (let i = 0; i < n; i++) {
    const j = i % m;
    sink += cf.match(ih[j] as string, ips[j] as Uint8Array, cc[j]).length;
  }
  return sink;
}

/** As the daemon is fed: infohash arrives as 20 bytes, the address as text (tsc-emitted code). */
function runTscFromWire(cf: CompiledFilters, ihBytes: Buffer, ipTexts: string[], cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const ih = ihBytes.toString('hex', i * 20, i * 20 + 20);
    const ip = tsc.parseIpBytes(ipTexts[i] as string) as Uint8Array;
    sink += cf.match(ih, ip, cc[i]).length;
  }
  return sink;
}

function runNaive(filters: NaiveFilter[], ih: string[], addrs: Array<ipaddr.IPv4 | ipaddr.IPv6>, cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += naiveMatch(filters, ih[i] as string, addrs[i] as ipaddr.IPv4, cc[i]).length;
  return sink;
}

function runNaiveParsing(filters: NaiveFilter[], ih: string[], ipTexts: string[], cc: Array<string | undefined>, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += naiveMatch(filters, ih[i] as string, ipaddr.parse(ipTexts[i] as string), cc[i]).length;
  return sink;
}

function rate(n: number, fn: () => number, rounds: number): { rates: number[]; sink: number } {
  const rates: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    sink += fn();
    const ns = Number(process.hrtime.bigint() - t0);
    rates.push(n / (ns / 1e9));
  }
  return { rates, sink };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((x, i) => x === sb[i]);
}

// ---------------------------------------------------------------- main
function main(): number {
  header(`filter-match: ${fmtInt(FILTERS)} filters, ${fmtInt(INFOHASHES)} infohashes, ${fmtInt(CIDRS)} CIDRs, ${COUNTRIES} countries, ${fmtInt(PEERS)} peers`);
  const gcAvailable = typeof (globalThis as { gc?: unknown }).gc === 'function';
  const t0 = performance.now();
  const { defs, watched, cidrs } = buildFilters();
  const stats = {
    watchAll: defs.filter((d) => d.infohashes.length === 0).length,
    noSubnets: defs.filter((d) => d.subnets.length === 0).length,
    noCountry: defs.filter((d) => d.countryCodes.length === 0).length,
    listings: defs.reduce((s, d) => s + d.infohashes.length, 0),
    v6: cidrs.filter((c) => c.bytes.length === 16).length,
  };
  console.log(
    `filters: ${stats.watchAll} watch all torrents, ${stats.noSubnets} without subnets, ${stats.noCountry} without countries; ` +
      `${fmtInt(stats.listings)} infohash listings; CIDRs ${fmtInt(CIDRS - stats.v6)} IPv4 + ${fmtInt(stats.v6)} IPv6`,
  );

  const compile = (Impl: typeof TsxCompiledFilters): { cf: CompiledFilters; times: number[]; heap: number; buffers: number } => {
    tryGc();
    const m0 = process.memoryUsage();
    const times: number[] = [];
    let cf = new Impl([]);
    for (let i = 0; i < 3; i++) {
      const c0 = performance.now();
      cf = new Impl(defs);
      times.push(performance.now() - c0);
    }
    tryGc();
    const m1 = process.memoryUsage();
    return { cf, times, heap: m1.heapUsed - m0.heapUsed, buffers: m1.arrayBuffers - m0.arrayBuffers };
  };
  const ct = compile(tsc.CompiledFilters);
  const cx = compile(TsxCompiledFilters);
  const cf = ct.cf;
  if (FILTER_IMPL) console.log(`(tsc-emitted figures below are for FILTER_IMPL=${FILTER_IMPL}, not src)`);
  const cfTsx = cx.cf;
  const fmtTimes = (t: number[]): string => t.map((x) => x.toFixed(1)).join(' / ');
  console.log(
    `compile time (tsc-emitted): ${fmtTimes(ct.times)} ms (1st cold / 2nd / 3rd); under tsx: ${fmtTimes(cx.times)} ms; ` +
      `compiled matcher ≈ ${fmtBytes(ct.heap)} heap + ${fmtBytes(ct.buffers)} typed arrays${gcAvailable ? '' : ' (rough: run with --expose-gc)'}`,
  );
  if (typeof cf.stats === 'function') {
    const st = cf.stats();
    console.log(
      `  structures: infohash index ${fmtBytes(st.indexBytes)} (${fmtInt(st.infohashes)} keys, ${fmtInt(st.infohashSets)} filter sets), ` +
        `prefix tables ${fmtBytes(st.tableBytes)} (${fmtInt(st.netSets)} address sets), set lists + country rows ${fmtBytes(st.bitRowBytes)}`,
    );
  }

  // What API changes cost: addInfohash / deleteInfohash patch the compiled set (FilterRegistry →
  // CompiledFilters.withInfohashChange); a config reload (setConfig) still compiles everything.
  // All synchronous, i.e. the time the event loop is blocked.
  const overlay: OverlayChange[] = [];
  const configs = defs.map((d) => ({
    ...d,
    infohashes: [...d.infohashes],
    subnets: [...d.subnets],
    countryCodes: [...d.countryCodes],
    description: '',
    storeTCPDumpFile: false,
    storeTCPDumpAttempt: false,
    notify: { amqp: false, email: [] },
  }));
  const registry = new FilterRegistry(
    {
      overlay: { record: (filter, infohash, op) => void overlay.push({ filter, infohash, op, changedAt: Date.now() }), list: () => overlay },
      torrents: { get: () => ({ state: 'known' }) },
    },
    configs,
  );
  const before = registry.compiled;
  const addMs: number[] = [];
  const delMs: number[] = [];
  const added: string[] = [];
  for (let i = 0; i < 21; i++) {
    const ih = rng.hex40();
    added.push(ih);
    const a0 = performance.now();
    registry.addInfohash('filter-0001', ih);
    addMs.push(performance.now() - a0);
  }
  const afterAdds = registry.compiled;
  for (const ih of added) {
    const d0 = performance.now();
    registry.deleteInfohash('filter-0001', ih);
    delMs.push(performance.now() - d0);
  }
  const afterDeletes = registry.compiled;
  const reloadMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r0 = performance.now();
    registry.setConfig(configs);
    reloadMs.push(performance.now() - r0);
  }
  // Each set must see exactly its own state (copy-on-write), and match a full compile.
  const watchedBefore = new Set(before.watchedInfohashes());
  const watchedAfterAdds = new Set(afterAdds.watchedInfohashes());
  const watchedAfterDeletes = new Set(afterDeletes.watchedInfohashes());
  const patchedOk =
    added.every((ih) => !watchedBefore.has(ih) && watchedAfterAdds.has(ih) && !watchedAfterDeletes.has(ih)) &&
    watchedAfterAdds.size === watchedBefore.size + added.length &&
    watchedAfterDeletes.size === watchedBefore.size &&
    [...new Set(registry.compiled.watchedInfohashes())].every((ih) => watchedAfterDeletes.has(ih));
  console.log(
    `API addInfohash / deleteInfohash → FilterRegistry patch (tsx-loaded): median ${median(addMs).toFixed(2)} / ${median(delMs).toFixed(2)} ms per call ` +
      `(max ${Math.max(...addMs).toFixed(2)} / ${Math.max(...delMs).toFixed(2)}); config reload (full compile): median ${median(reloadMs).toFixed(0)} ms` +
      `${patchedOk ? '' : ' — WRONG STATE AFTER PATCHES'}`,
  );

  const w = buildWorkload(watched, cidrs, PEERS);
  const naive = buildNaive(defs);
  console.log(`workload: ${fmtInt(PEERS)} peers, ${fmtInt(w.inside)} addresses inside a filter subnet; built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // ---- correctness: compiled vs naive on a sample, and on subnet boundaries
  let agree = 0;
  let matchedPeers = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < SAMPLE; i++) {
    const j = Math.floor((i * PEERS) / SAMPLE);
    const a = cf.match(w.infohashes[j] as string, w.ips[j] as Uint8Array, w.countries[j]);
    const a2 = cfTsx.match(w.infohashes[j] as string, w.ips[j] as Uint8Array, w.countries[j]);
    const b = naiveMatch(naive, w.infohashes[j] as string, ipaddr.parse(w.ipTexts[j] as string), w.countries[j]);
    if (b.length > 0) matchedPeers++;
    if (sameSet(a, b) && sameSet(a2, b)) agree++;
    else if (disagreements.length < 5) disagreements.push(`peer ${j} ${w.infohashes[j]} ${w.ipTexts[j]} ${w.countries[j]}: compiled [${a.join(',')}] naive [${b.join(',')}]`);
  }
  console.log(`results agree: ${agree}/${SAMPLE} (compiled, tsc- and tsx-loaded, vs naive; ${matchedPeers} of the sample match ≥ 1 filter)`);

  // Subnet edges: first, last, one before and one after each of 2,500 CIDRs, with an infohash of a
  // filter that lists that CIDR (so the subnet decides) and no country.
  const byCidr = new Map<string, string[]>();
  defs.forEach((d) => d.subnets.forEach((s) => byCidr.set(s, [...(byCidr.get(s) ?? []), d.name])));
  const defByName = new Map(defs.map((d) => [d.name, d]));
  let edgeAgree = 0;
  let edgeTotal = 0;
  for (let k = 0; k < 2_500; k++) {
    const c = cidrs[(k * 4) % cidrs.length] as Cidr;
    const owner = defByName.get((byCidr.get(c.text) ?? [])[0] ?? '');
    const ih = owner?.infohashes[0] ?? rng.pick(watched);
    const first = maskTo(c.bytes, c.prefix);
    const last = Uint8Array.from(first);
    for (let i = c.prefix; i < last.length * 8; i++) last[i >> 3] = (last[i >> 3] as number) | (0x80 >> (i & 7));
    const before = step(first, -1);
    const after = step(last, 1);
    for (const b of [first, last, before, after]) {
      if (!b) continue;
      const text = formatIpBytes(b);
      const bytes = parseIpBytes(text);
      if (!bytes || bytes.length !== b.length) continue; // e.g. landed in ::ffff:0:0/96
      const cc = owner?.countryCodes[0];
      edgeTotal++;
      const expected = naiveMatch(naive, ih, ipaddr.parse(text), cc);
      if (sameSet(cf.match(ih, bytes, cc), expected) && sameSet(cfTsx.match(ih, bytes, cc), expected)) edgeAgree++;
      else if (disagreements.length < 10) disagreements.push(`edge ${text} of ${c.text}`);
    }
  }
  console.log(`subnet-edge cases agree: ${edgeAgree}/${edgeTotal}`);
  for (const d of disagreements) console.log(`  DISAGREE ${d}`);

  // ---- compiled throughput
  const sinkOut: number[] = [];
  rate(PEERS, () => runTsc(cf, w.infohashes, w.ips, w.countries, PEERS), 2); // warm-up
  const compiled = rate(PEERS, () => runTsc(cf, w.infohashes, w.ips, w.countries, PEERS), ROUNDS);
  sinkOut.push(compiled.sink);
  const cBest = Math.max(...compiled.rates);
  const cMed = median(compiled.rates);
  console.log(`compiled (tsc-emitted, as in production): best ${fmtInt(cBest)} checks/s, median ${fmtInt(cMed)} checks/s over ${ROUNDS} rounds of ${fmtInt(PEERS)} (${(compiled.sink / ROUNDS / PEERS).toFixed(3)} names/check)`);
  console.log(`  rounds: ${compiled.rates.map((r) => (r / 1e6).toFixed(2)).join(' ')} M/s`);

  const harness = rate(PEERS, () => runHarness(w.infohashes, w.ips, w.countries, PEERS), 3);
  sinkOut.push(harness.sink);
  const hot = rate(PEERS, () => runTscHot(cf, w.infohashes, w.ips, w.countries, PEERS), 3);
  sinkOut.push(hot.sink);
  console.log(
    `  loop alone (reads the inputs, no match): ${(1e9 / median(harness.rates)).toFixed(0)} ns/peer; ` +
      `compiled on 10,000 peers cycled (cache-hot inputs): median ${fmtInt(median(hot.rates))} checks/s (info)`,
  );
  rate(PEERS, () => runTscFromWire(cf, w.ihBytes, w.ipTexts, w.countries, PEERS), 1);
  const wire = rate(PEERS, () => runTscFromWire(cf, w.ihBytes, w.ipTexts, w.countries, PEERS), 3);
  sinkOut.push(wire.sink);
  console.log(`  incl. hex(20 bytes) + parseIpBytes(text) per check: median ${fmtInt(median(wire.rates))} checks/s (info)`);

  const tsxN = Math.min(PEERS, 200_000);
  rate(tsxN, () => runTsx(cfTsx, w.infohashes, w.ips, w.countries, tsxN), 1);
  const viaTsx = rate(tsxN, () => runTsx(cfTsx, w.infohashes, w.ips, w.countries, tsxN), 3);
  sinkOut.push(viaTsx.sink);
  const xMed = median(viaTsx.rates);
  console.log(`compiled loaded through tsx (esbuild keepNames): best ${fmtInt(Math.max(...viaTsx.rates))} checks/s, median ${fmtInt(xMed)} checks/s over 3 rounds of ${fmtInt(tsxN)}`);

  // ---- naive throughput (fewer peers: it is slow)
  const addrs = w.ipTexts.slice(0, NAIVE_PEERS).map((t) => ipaddr.parse(t));
  rate(NAIVE_PEERS, () => runNaive(naive, w.infohashes, addrs, w.countries, Math.min(NAIVE_PEERS, 5_000)), 1);
  const nv = rate(NAIVE_PEERS, () => runNaive(naive, w.infohashes, addrs, w.countries, NAIVE_PEERS), 3);
  sinkOut.push(nv.sink);
  const nMed = median(nv.rates);
  console.log(`naive (ipaddr pre-parsed): best ${fmtInt(Math.max(...nv.rates))} checks/s, median ${fmtInt(nMed)} checks/s over 3 rounds of ${fmtInt(NAIVE_PEERS)}`);
  const nvp = rate(NAIVE_PEERS, () => runNaiveParsing(naive, w.infohashes, w.ipTexts, w.countries, NAIVE_PEERS), 2);
  sinkOut.push(nvp.sink);
  console.log(`naive incl. ipaddr.parse(text) per check: median ${fmtInt(median(nvp.rates))} checks/s (info)`);

  const ratio = cMed / nMed;
  const mem = process.memoryUsage();
  console.log(`ratio compiled/naive (medians, both pre-parsed): ${ratio.toFixed(0)}× (tsx-loaded: ${(xMed / nMed).toFixed(0)}×)`);
  console.log(`heap used: ${fmtBytes(mem.heapUsed)} (whole process incl. the ${fmtInt(PEERS)}-peer workload), rss ${fmtBytes(mem.rss)}`);
  console.log(`target compiled ≥ ${fmtInt(TARGET_CHECKS_PER_S)} checks/s (tsc-emitted, median): ${passMiss(cMed >= TARGET_CHECKS_PER_S)}  [tsx-loaded: ${passMiss(xMed >= TARGET_CHECKS_PER_S)}]`);
  console.log(`target compiled ≥ ${TARGET_RATIO}× naive (tsc-emitted): ${passMiss(ratio >= TARGET_RATIO)}  [tsx-loaded: ${passMiss(xMed / nMed >= TARGET_RATIO)}]`);
  if (sinkOut.some((s) => !Number.isFinite(s))) console.log('(sink)');

  const ok = agree === SAMPLE && edgeAgree === edgeTotal && patchedOk;
  if (!ok) console.log('CORRECTNESS FAILURE: compiled and naive results differ');
  return ok ? 0 : 1;
}

process.exitCode = main();
