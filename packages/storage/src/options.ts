import { Secret, type ConfigIssue } from '@switchboard/runtime';

/**
 * What is wrong with a library's options, collected field by field so one `ConfigError` names
 * them all, with paths as in the daemons' configuration (`kv.nodes[1]`, `blob.s3.region`).
 * A secret's value is never quoted: pass `secret` (or name it in `secretPaths`).
 */
export class OptionIssues {
  readonly list: ConfigIssue[] = [];
  readonly #section: string;
  readonly #secretPaths: ReadonlySet<string>;

  constructor(section: string, secretPaths: readonly string[] = []) {
    this.#section = section;
    this.#secretPaths = new Set(secretPaths);
  }

  add(path: string, message: string, received?: unknown, secret = false): void {
    const hidden = secret || this.#secretPaths.has(path) || /(?:secret|password)/i.test(path);
    this.list.push({
      path: `${this.#section}.${path}`,
      env: '',
      source: received === undefined ? 'missing' : 'default',
      message,
      ...(received === undefined || hidden ? {} : { received: JSON.stringify(received) }),
    });
  }
}

export function integerOption(
  issues: OptionIssues,
  path: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) {
    return value;
  }
  issues.add(path, `expected an integer from ${min} to ${max}`, value);
  return fallback;
}

export function booleanOption(
  issues: OptionIssues,
  path: string,
  value: unknown,
  fallback: boolean,
): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  issues.add(path, 'expected a boolean', value);
  return fallback;
}

export function oneOfOption<const T extends string>(
  issues: OptionIssues,
  path: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  issues.add(path, `expected ${allowed.map((a) => `"${a}"`).join(' or ')}`, value);
  return fallback;
}

export function optionalStringOption(
  issues: OptionIssues,
  path: string,
  value: unknown,
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value.length > 0) return value;
  issues.add(path, 'expected a non-empty string', value);
  return undefined;
}

/** A string or a `Secret`, held as a `Secret`; undefined stays undefined. */
export function optionalSecretOption(
  issues: OptionIssues,
  path: string,
  value: unknown,
): Secret | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Secret) return value;
  if (typeof value === 'string' && value.length > 0) return new Secret(value);
  issues.add(path, 'expected a non-empty string or Secret', '[redacted]', true);
  return undefined;
}
