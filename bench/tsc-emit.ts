/**
 * Loads src modules as `tsc` emits them (what dist/ and so production run), instead of through tsx.
 *
 * Why: tsx transpiles with esbuild's keepNames, which wraps every function expression in
 * `__name(fn, "name")` — an Object.defineProperty call each time the expression is evaluated. A
 * closure created per call in a hot path (as the old CompiledFilters.match's `consider` was) then
 * costs time under tsx that production does not pay. The benchmarks say which form they measure.
 *
 * The listed files are transpiled one by one with TypeScript's own emitter (tsconfig's target) into
 * a private temp directory as .mjs, keeping their relative layout; relative imports are pointed at
 * the .mjs siblings and bare imports (ipaddr.js, …) at the files /work/main/node_modules resolves.
 * (A temp directory, not bench/.data: emitted .js there would be linted by `eslint bench`.)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let outDir: string | undefined;

function out(): string {
  if (outDir === undefined) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'capture-daemon-bench-tsc-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    outDir = dir;
  }
  return outDir;
}

const target = (rel: string): string => path.join(out(), rel.replace(/\.ts$/, '.mjs'));

/** Transpiles `files` (repo-relative .ts paths, which may import only each other and packages). */
export function emitAsTsc(files: readonly string[]): void {
  for (const rel of files) {
    const source = readFileSync(path.join(ROOT, rel), 'utf8');
    const result = ts.transpileModule(source, {
      fileName: rel,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        isolatedModules: true,
        esModuleInterop: true,
        sourceMap: false,
      },
    });
    const code = result.outputText.replace(/(from\s+|import\s*\(\s*)(['"])([^'"]+)\2/g, (_m, kw: string, q: string, spec: string) => {
      if (spec.startsWith('.')) return `${kw}${q}${spec.replace(/\.js$/, '.mjs')}${q}`;
      if (spec.startsWith('node:')) return `${kw}${q}${spec}${q}`;
      return `${kw}${q}${import.meta.resolve(spec)}${q}`;
    });
    const dest = target(rel);
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, code);
  }
}

/** Imports a file emitted by emitAsTsc (repo-relative .ts path). */
export async function importEmitted<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(target(rel)).href)) as T;
}
