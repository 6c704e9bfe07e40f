import { inspect } from 'node:util';

const redacted = '[redacted]';

/**
 * A string that cannot be logged by accident: `String(secret)`, `JSON.stringify`, pino and
 * `util.inspect` all see `[redacted]`. Only `reveal()` gives the value, so every place that
 * uses a password is a visible call in review.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret value; pass it straight to the client that needs it, never to a log. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return redacted;
  }

  toJSON(): string {
    return redacted;
  }

  [inspect.custom](): string {
    return redacted;
  }
}
