import type { z } from 'zod';

type Issue = z.core.$ZodRawIssue;

const TYPE_WORDS: Record<string, string> = {
  string: 'must be text',
  number: 'must be a number',
  int: 'must be a whole number',
  boolean: 'must be true or false',
  array: 'must be a list',
  object: 'must be a mapping (key: value lines)',
  nan: 'must be a number',
};

function bound(issue: { minimum?: unknown; maximum?: unknown; inclusive?: boolean }, lower: boolean): string {
  const n = Number(lower ? issue.minimum : issue.maximum);
  if (issue.inclusive === false) return `${lower ? 'more' : 'less'} than ${n}`;
  return `${lower ? 'at least' : 'at most'} ${n}`;
}

/**
 * The project's words for what a config key wants, instead of the schema library's
 * ("Invalid input: expected string, received number"). Messages written in the schema itself
 * (refinements, custom checks) take precedence and are kept as they are.
 */
export function configIssueMessage(issue: Issue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = String(issue.expected);
      if (issue.input === undefined) return 'is required';
      return TYPE_WORDS[expected] ?? `must be ${expected}`;
    }
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) === 1 ? 'must not be empty' : `must be ${bound(issue, true)} characters long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must list ${bound(issue, true)} entries`;
      return `must be ${bound(issue, true)}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be ${bound(issue, false)} characters long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must list ${bound(issue, false)} entries`;
      return `must be ${bound(issue, false)}`;
    case 'invalid_value':
      return `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: check the spelling (config/capture-daemon.example.yaml lists every key)`;
    case 'invalid_format':
      return issue.format === 'email' ? 'must be an email address' : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_union':
      return 'has the wrong form (see config/capture-daemon.example.yaml)';
    default:
      return undefined;
  }
}
