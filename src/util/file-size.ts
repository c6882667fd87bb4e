import { statSync } from 'node:fs';

/** The size of a file in bytes; 0 when it does not exist or cannot be read (a status figure, never an error). */
export function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}
