import { ApiError } from '../util/app-error.js';

export type Params = Record<string, unknown>;

function invalid(message: string): ApiError {
  return new ApiError(400, 'INVALID_PARAMETER', message);
}

/** A single string parameter; repeated parameters are an error rather than a guess. */
export function stringParam(params: Params, name: string, required: true): string;
export function stringParam(params: Params, name: string, required?: boolean): string | undefined;
export function stringParam(params: Params, name: string, required = false): string | undefined {
  const v = params[name];
  if (v === undefined || v === '') {
    if (required) throw invalid(`parameter "${name}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(`parameter "${name}" must be given once, as text`);
  return v;
}

/** A timestamp in milliseconds: digits only, within the range of a Date. */
export function msParam(params: Params, name: string, fallback?: number): number {
  const s = stringParam(params, name, fallback === undefined);
  if (s === undefined) return fallback as number;
  if (!/^\d{1,16}$/.test(s) || Number(s) > 8.64e15) {
    throw invalid(`parameter "${name}" must be a timestamp in milliseconds (digits only)`);
  }
  return Number(s);
}

export function boolParam(params: Params, name: string): boolean | undefined {
  const s = stringParam(params, name);
  if (s === undefined) return undefined;
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw invalid(`parameter "${name}" must be "true" or "false"`);
}

export function intParam(params: Params, name: string): number {
  const s = stringParam(params, name, true);
  if (!/^\d{1,15}$/.test(s)) throw invalid(`parameter "${name}" must be a positive integer`);
  return Number(s);
}
