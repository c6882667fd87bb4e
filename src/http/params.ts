import { requireInfoHash, type InfoHash } from '../model/infohash.js';
import { RequestError } from './http-errors.js';

export type Params = Record<string, unknown>;

function invalid(message: string): RequestError {
  return new RequestError('INVALID_PARAMETER', message);
}

/**
 * A parameter as given: undefined when absent, the text otherwise. An empty value (`name=`) is a
 * value, not an absence: each parameter's own check refuses it like any other malformed value.
 * Repeated parameters are an error rather than a guess.
 */
export function rawParam(params: Params, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`parameter "${name}" must be given once, as text`);
  return v;
}

/** A single non-empty string parameter. */
export function stringParam(params: Params, name: string, required: true): string;
export function stringParam(params: Params, name: string, required?: boolean): string | undefined;
export function stringParam(params: Params, name: string, required = false): string | undefined {
  const v = rawParam(params, name);
  if (v === undefined) {
    if (required) throw invalid(`parameter "${name}" is required`);
    return undefined;
  }
  if (v === '') throw invalid(`parameter "${name}" must not be empty`);
  return v;
}

/** The required `infohash`: absent → INVALID_PARAMETER; any value but 40 hex digits (`""` too) → INVALID_INFOHASH. */
export function infohashParam(params: Params, name = 'infohash'): InfoHash {
  const v = rawParam(params, name);
  if (v === undefined) throw invalid(`parameter "${name}" is required`);
  return requireInfoHash(v);
}

/** A timestamp in milliseconds: digits only, within the range of a Date. */
export function msParam(params: Params, name: string, fallback?: number): number {
  const s = rawParam(params, name);
  if (s === undefined) {
    if (fallback === undefined) throw invalid(`parameter "${name}" is required`);
    return fallback;
  }
  if (!/^\d{1,16}$/.test(s) || Number(s) > 8.64e15) {
    throw invalid(`parameter "${name}" must be a timestamp in milliseconds (digits only)`);
  }
  return Number(s);
}

export function boolParam(params: Params, name: string): boolean | undefined {
  const s = rawParam(params, name);
  if (s === undefined) return undefined;
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw invalid(`parameter "${name}" must be "true" or "false"`);
}

export function intParam(params: Params, name: string): number {
  const s = rawParam(params, name);
  if (s === undefined) throw invalid(`parameter "${name}" is required`);
  if (!/^\d{1,15}$/.test(s)) throw invalid(`parameter "${name}" must be a positive integer`);
  return Number(s);
}
