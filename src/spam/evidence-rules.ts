/**
 * The evidence rules that read a torrent's metadata (pure functions). The swarm rules (no seeder,
 * metadata never obtainable) are queries over the captures: see evidence-scanner.ts.
 */

/** Rule codes, as they appear in the XML's `<reason code="…">` and in SpamVerdict.reasons. */
export const RULES = {
  disguisedExecutable: 'disguised-executable',
  noSeeder: 'no-seeder',
  metadataUnobtainable: 'metadata-unobtainable',
} as const;

/** Extensions Windows runs when the file is opened. */
const EXECUTABLE = new Set(['exe', 'scr', 'com', 'bat', 'cmd', 'pif', 'msi', 'vbs', 'vbe', 'js', 'jse', 'wsf', 'wsh', 'ps1', 'jar', 'hta', 'cpl']);
/** Shortcuts: a .lnk runs any command with any icon. */
const SHORTCUT = new Set(['lnk']);
const VIDEO = ['avi', 'mkv', 'mp4', 'm4v', 'mov', 'wmv', 'flv', 'mpg', 'mpeg', 'vob', 'm2ts', 'webm', 'divx', '3gp', 'ogv', 'rmvb', 'asf'];
const AUDIO = ['mp3', 'flac', 'wav', 'aac', 'ogg', 'wma', 'm4a', 'ape', 'opus'];
const MEDIA = new Set([...VIDEO, ...AUDIO]);
/** Words of release names that say "this is a film, an episode or an album". */
const MEDIA_WORDS =
  /(?:^|[^a-z0-9])(?:xvid|divx|x264|x265|h\.?264|h\.?265|hevc|1080[pi]|720p|2160p|4k|dvdrip|dvdscr|bdrip|brrip|bluray|blu-ray|web-?dl|webrip|hdtv|hdrip|hdcam|camrip|telesync|s\d{1,2}e\d{1,3}|mp3|flac|320kbps|discography|movie|film)(?:$|[^a-z0-9])/i;

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

function extensions(name: string): string[] {
  return name
    .toLowerCase()
    .split('.')
    .slice(1)
    .map((e) => e.trim());
}

/** A torrent whose name says it is a film, an episode or music. */
export function looksLikeMedia(torrentName: string): boolean {
  const exts = extensions(torrentName);
  return MEDIA.has(exts[exts.length - 1] ?? '') || MEDIA_WORDS.test(torrentName);
}

/**
 * Why a torrent's metadata shows an executable or shortcut disguised as media, or undefined:
 * - a double extension: `film.avi.exe`, `song.mp3 .scr`;
 * - a right-to-left override (U+202E) in an executable's name, which shows `…exe.avi` reversed;
 * - a Windows shortcut (`.lnk`) anywhere in the torrent;
 * - an executable in a torrent whose name says it is video or music.
 */
export function disguisedExecutable(torrentName: string, files: ReadonlyArray<{ path: string }>): string | undefined {
  const media = looksLikeMedia(torrentName);
  const findings: string[] = [];
  for (const f of files) {
    const name = baseName(f.path);
    const exts = extensions(name);
    const last = exts[exts.length - 1] ?? '';
    if (SHORTCUT.has(last)) findings.push(`file "${name}" is a Windows shortcut (.lnk)`);
    else if (!EXECUTABLE.has(last)) continue;
    else if (MEDIA.has(exts[exts.length - 2] ?? '')) findings.push(`file "${name}" is an executable with a double extension (.${exts[exts.length - 2]}.${last})`);
    else if (name.includes('\u202e')) findings.push(`file "${name}" is an executable whose name hides its extension (right-to-left override)`);
    else if (media) findings.push(`file "${name}" is an executable (.${last}) in a video or music torrent`);
  }
  if (findings.length === 0) return undefined;
  return findings.length === 1 ? findings[0] : `${findings[0]} (and ${findings.length - 1} more such file(s))`;
}
