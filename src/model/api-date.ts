const DAY_MS = 86_400_000;
/** The range where toISOString writes a 4-digit year (0000-01-01 … 9999-12-31). */
const FAST_MIN = -62_167_219_200_000;
const FAST_END = 253_402_300_800_000;

const PAD2: readonly string[] = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const PAD3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

// The last day formatted ("YYYY-MM-DDT"): a page of captures mostly shares one or two days.
let cachedDay = Number.NaN;
let cachedPrefix = '';

/** Formats epoch milliseconds as the Capture API's date: `YYYY-MM-DDTHH:mm:ss.SSS+0000` (UTC). */
export function formatApiDate(ms: number): string {
  // Same text as `new Date(ms).toISOString().replace('Z', '+0000')`, without a Date per call; whole
  // milliseconds of years 0000–9999 only, everything else (and RangeError for invalid times) as before.
  if (!Number.isInteger(ms) || ms < FAST_MIN || ms >= FAST_END) return new Date(ms).toISOString().replace('Z', '+0000');
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let t = ms - day * DAY_MS;
  const milli = t % 1000;
  t = (t - milli) / 1000;
  const s = t % 60;
  t = (t - s) / 60;
  const m = t % 60;
  const h = (t - m) / 60;
  return `${cachedPrefix}${PAD2[h] as string}:${PAD2[m] as string}:${PAD2[s] as string}.${PAD3[milli] as string}+0000`;
}
