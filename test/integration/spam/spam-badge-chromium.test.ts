import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BADGE_DIMENSIONS, BADGE_SIZES } from '../../../src/spam/badge.js';
import { startApi, type ApiFixture } from '../../helpers/api-fixture.js';

/**
 * The badges as a site's visitors see them: Debian's Chromium (installed by .ci/run) loads each
 * from the daemon in an <img>, and the test checks the picture: its size, that it is not blank,
 * and its colour (red when listed, green for no reports).
 */

const LISTED = 'a'.repeat(40);
let api: ApiFixture;
let browser: Browser;

beforeAll(async () => {
  api = await startApi({ spam: { listThreshold: 1 } });
  for (const r of ['x', 'y']) api.spamRepo.report({ infohash: LISTED, name: 'Fake Film', category: '', reporter: r, site: 's', creator: r, weight: 1, at: 1 });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 60_000,
  });
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
});

interface Picture {
  width: number;
  height: number;
  opaque: number;
  total: number;
  colours: number;
  /** Share of opaque pixels that are mostly red / mostly green. */
  red: number;
  green: number;
}

/** Runs in the page (as source text: this project's TypeScript has no DOM types): loads the image, reads its pixels. */
const PICTURE = `async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let opaque = 0, red = 0, green = 0;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4) {
    const r = d[i], g = d[i + 1], b = d[i + 2], a = d[i + 3];
    if (a < 200) continue;
    opaque++;
    colours.add((r << 16) | (g << 8) | b);
    if (r > 150 && g < 90 && b < 90) red++;
    if (g > 100 && r < 80 && b < 80) green++;
  }
  return { width: img.naturalWidth, height: img.naturalHeight, opaque, total: d.length / 4, colours: colours.size, red: red / opaque, green: green / opaque };
}`;

describe('badges rendered by Chromium', () => {
  it.each(BADGE_SIZES.flatMap((size) => [[size, 'listed'], [size, 'clean']] as const))('%s, %s', async (size, kind) => {
    const page = await browser.newPage();
    try {
      await page.goto(`${api.url}/index.php?op=check&Hash=${LISTED}`); // any page of the daemon: the badge is same-origin
      const src = `/index.php?op=badge&size=${size}&${kind === 'listed' ? `Torrent=fake%20FILM` : `Hash=${'0'.repeat(40)}`}`;
      const pic = (await page.evaluate(`(${PICTURE})(${JSON.stringify(src)})`)) as Picture;
      const { width, height } = BADGE_DIMENSIONS[size];
      expect([pic.width, pic.height]).toEqual([width, height]);
      expect(pic.opaque / pic.total).toBeGreaterThan(0.9); // a filled badge, not a blank or broken image
      expect(pic.colours).toBeGreaterThan(10); // text drawn over the fill (anti-aliased edges)
      if (kind === 'listed') {
        expect(pic.red).toBeGreaterThan(0.3);
        expect(pic.green).toBe(0);
      } else {
        expect(pic.green).toBeGreaterThan(0.3);
        expect(pic.red).toBe(0);
      }
    } finally {
      await page.close();
    }
  }, 60_000);
});
