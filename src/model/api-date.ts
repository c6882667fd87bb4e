/** Formats epoch milliseconds as the Capture API's date: `YYYY-MM-DDTHH:mm:ss.SSS+0000` (UTC). */
export function formatApiDate(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}
