import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: Buffer;
}

/** The page's own files: web/dashboard/ in the package (the same depth from src/ and dist/). */
export const PAGE_DIR = fileURLToPath(new URL('../../../web/dashboard/', import.meta.url));

/** Chart.js's browser build, from node_modules (no CDN: the daemon's host may be offline). */
function chartJsFile(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return path.join(path.dirname(main), 'chart.umd.min.js');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Reads the dashboard's files once (they are small: the page, its script and style, and Chart.js,
 * about 220 kB in all) and serves them from memory. A missing file is a fatal start-up error.
 */
export function loadDashboardAssets(): { page(name: 'index.html' | 'login.html'): string; asset(name: string): Asset | undefined } {
  const pages = {
    'index.html': readFileSync(path.join(PAGE_DIR, 'index.html'), 'utf8'),
    'login.html': readFileSync(path.join(PAGE_DIR, 'login.html'), 'utf8'),
  };
  const assets = new Map<string, Asset>();
  for (const name of ['dashboard.js', 'dashboard.css', 'favicon.svg']) {
    assets.set(name, { type: TYPES[path.extname(name)] as string, body: readFileSync(path.join(PAGE_DIR, name)) });
  }
  assets.set('chart.umd.min.js', { type: TYPES['.js'] as string, body: readFileSync(chartJsFile()) });
  return { page: (name) => pages[name], asset: (name) => assets.get(name) };
}
