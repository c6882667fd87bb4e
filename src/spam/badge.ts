import { createHash } from 'node:crypto';

export const BADGE_SIZES = ['small', 'medium', 'large'] as const;
export type BadgeSize = (typeof BADGE_SIZES)[number];

/** Pixel size of each badge (the SVG's width and height). */
export const BADGE_DIMENSIONS: Record<BadgeSize, { width: number; height: number }> = {
  small: { width: 90, height: 20 },
  medium: { width: 160, height: 28 },
  large: { width: 240, height: 60 },
};

export interface BadgeInput {
  size: BadgeSize;
  /** Reports counted for the torrent (0: "no reports"). */
  count: number;
  /** Above the list threshold: shown in red, else orange (reported) or green (no reports). */
  listed: boolean;
}

export interface Badge {
  svg: string;
  /** Strong validator of this exact image. */
  etag: string;
}

const COLORS = { none: '#2e7d32', reported: '#e65100', listed: '#c62828', label: '#444444' };
const FONT = 'DejaVu Sans,Verdana,Geneva,sans-serif';

function reportsText(count: number): string {
  if (count === 0) return 'no reports';
  return count === 1 ? '1 report' : `${count} reports`;
}

/** Squeezes a text that would overflow `room` pixels (a large count) instead of letting it spill out. */
function fit(text: string, fontSize: number, room: number): string {
  return text.length * fontSize * 0.62 > room ? ` textLength="${room}" lengthAdjust="spacingAndGlyphs"` : '';
}

/**
 * An SVG badge a site shows next to a download: "spam" and the count, or "no reports". Only
 * digits and fixed words go into the image, so nothing in it needs escaping.
 */
export function renderBadge(b: BadgeInput): Badge {
  const { width, height } = BADGE_DIMENSIONS[b.size];
  const color = b.count === 0 ? COLORS.none : b.listed ? COLORS.listed : COLORS.reported;
  const value = reportsText(b.count);
  let body: string;
  if (b.size === 'large') {
    const title = b.count === 0 ? 'Spam check: clean' : b.listed ? 'Warning: listed as spam' : 'Reported as spam';
    body =
      `<rect width="${width}" height="${height}" rx="6" fill="${color}"/>` +
      `<text x="${width / 2}" y="24" font-size="15" font-weight="bold">${title}</text>` +
      `<text x="${width / 2}" y="46" font-size="13"${fit(value, 13, width - 12)}>${value}</text>`;
  } else {
    const labelW = b.size === 'small' ? 34 : 56;
    const fs = b.size === 'small' ? 11 : 14;
    const y = b.size === 'small' ? 14 : 19;
    body =
      `<rect width="${labelW}" height="${height}" rx="3" fill="${COLORS.label}"/>` +
      `<rect x="${labelW - 3}" width="${width - labelW + 3}" height="${height}" rx="3" fill="${color}"/>` +
      `<rect x="${labelW - 3}" width="6" height="${height}" fill="${color}"/>` +
      `<text x="${labelW / 2}" y="${y}" font-size="${fs}">spam</text>` +
      `<text x="${labelW + (width - labelW) / 2}" y="${y}" font-size="${fs}"${fit(value, fs, width - labelW - 6)}>${value}</text>`;
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="spam: ${value}">` +
    `<title>spam: ${value}</title><g fill="#ffffff" text-anchor="middle" font-family="${FONT}">${body}</g></svg>`;
  // The <g> sets fill for the text; the rects carry their own fill.
  const etag = `"${createHash('sha256').update(svg).digest('base64url').slice(0, 22)}"`;
  return { svg, etag };
}
