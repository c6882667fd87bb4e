import { describe, expect, it } from 'vitest';
import { disguisedExecutable, looksLikeMedia } from '../../../src/spam/evidence-rules.js';

const files = (...paths: string[]): Array<{ path: string }> => paths.map((path) => ({ path }));

describe('disguised-executable rule', () => {
  it.each([
    ['double extension', 'Film 2024', files('Film 2024/Film.2024.1080p.avi.exe'), /double extension \(\.avi\.exe\)/],
    ['double extension with a space', 'Song', files('Song/track01.mp3 .scr'), /double extension \(\.mp3\.scr\)/],
    ['a shortcut anywhere', 'Some Album', files('Some Album/cover.jpg', 'Some Album/Play.lnk'), /Windows shortcut/],
    ['an executable in a video torrent', 'Big.Movie.2023.1080p.BluRay.x264', files('Big/Big.Movie.mkv', 'Big/codec-setup.exe'), /\.exe\) in a video or music torrent/],
    ['a right-to-left override', 'Pack', files('Pack/holiday\u202eiva.exe'), /right-to-left override/],
  ])('reports %s', (_what, name, list, why) => {
    expect(disguisedExecutable(name, list)).toMatch(why);
  });

  it('counts further findings', () => {
    expect(disguisedExecutable('x', files('a.avi.exe', 'b.lnk', 'c.mp4.bat'))).toMatch(/and 2 more such file/);
  });

  it.each([
    ['a game with its installer', 'Some Game v1.2', files('Some Game/setup.exe', 'Some Game/data.bin', 'Some Game/trailer.mp4')],
    ['a film without executables', 'Film.2024.1080p.WEB-DL', files('Film/Film.mkv', 'Film/Film.nfo', 'Film/Visit us.url')],
    ['a media extension that is not the last', 'Tools', files('Tools/avi.exe.txt')],
  ])('leaves %s alone', (_what, name, list) => {
    expect(disguisedExecutable(name, list)).toBeUndefined();
  });

  it('reads media from release names and extensions', () => {
    expect(looksLikeMedia('Show.S01E02.720p.HDTV')).toBe(true);
    expect(looksLikeMedia('holiday.avi')).toBe(true);
    expect(looksLikeMedia('LibreOffice 7.6 installer')).toBe(false);
  });
});
