import { readFileSync } from 'node:fs';
import Type, { type StaticDecode, type TObject, type TSchema } from 'typebox';
import Value from 'typebox/value';
import { ConfigError, type ConfigIssue, type ConfigSource, type ConfigWarning } from './errors.js';
import { Secret } from './secret.js';
import { redactUri } from './uri.js';

/** Every environment variable Switchboard reads starts with this. */
export const envPrefix = 'SWB_';

/** The variable that names the JSON config file. */
export const configFileEnv = 'SWB_CONFIG';

/** A deeply read-only view; `Secret` stays a `Secret` so `reveal()` remains callable. */
export type DeepReadonly<T> = T extends Secret
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** The configuration object a schema describes, after decoding (secrets are `Secret`s). */
export type ConfigOf<S extends TSchema> = DeepReadonly<StaticDecode<S>>;

/**
 * A field that is optional in the schema but required while another field has some value
 * (`equals`), or has a value at all (`set`: present, and not an empty string or list, e.g.
 * `controller.joinToken` once `controller.urls` lists a controller).
 */
export type RequiredWhen =
  | {
      /** Dotted path of the field that becomes required, e.g. `blob.root`. */
      readonly path: string;
      /** Dotted path of the field it depends on, e.g. `blob.driver`. */
      readonly when: string;
      readonly equals: string | number | boolean;
    }
  | { readonly path: string; readonly when: string; readonly set: true };

/** Whether a rule's condition holds for the (raw) value of its `when` field. */
function conditionHolds(rule: RequiredWhen, value: unknown): boolean {
  if ('equals' in rule) return value === rule.equals;
  if (value === undefined || value === null || value === '') return false;
  return !Array.isArray(value) || value.length > 0;
}

function describeCondition(rule: RequiredWhen, when: string): string {
  return 'equals' in rule ? `${when} is ${JSON.stringify(rule.equals)}` : `${when} is set`;
}

export interface LoadConfigOptions {
  /** The environment to read; `main.ts` passes `process.env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file; default: the value of `SWB_CONFIG`, if set. */
  readonly file?: string;
  /**
   * Command-line overrides, highest precedence, in the form `--ops.port=9500` (a dotted schema
   * path). Anything else in the list is reported as an error rather than ignored.
   */
  readonly argvOverrides?: readonly string[];
  /**
   * Defaults that can only be computed at load time (e.g. a node id from the host name), keyed
   * by dotted path. They rank above the schema's defaults and below every other source.
   */
  readonly defaults?: Readonly<Record<string, unknown>>;
  readonly requiredWhen?: readonly RequiredWhen[];
  /** Reads the config file; injectable so tests need no disk. */
  readonly readFile?: (path: string) => string;
}

export interface LoadedConfig<S extends TObject> {
  readonly config: ConfigOf<S>;
  readonly warnings: readonly ConfigWarning[];
}

/** One row of generated configuration docs. */
export interface ConfigFieldDescription {
  readonly path: string;
  readonly env: string;
  readonly type: string;
  /** The default as JSON (`[redacted]` for secrets); absent when the field has none. */
  readonly default?: string;
  readonly description?: string;
  readonly secret: boolean;
  readonly required: boolean;
  /**
   * For a conditionally required field, the condition, e.g. `blob.driver = "posix"`; several
   * rules for one field are joined with ` or `.
   */
  readonly requiredWhen?: string;
}

interface Field {
  readonly path: string;
  readonly segments: readonly string[];
  readonly env: string;
  readonly schema: TSchema;
  readonly optional: boolean;
  readonly secret: boolean;
}

type Annotations = Readonly<Record<string, unknown>>;

function annotations(schema: TSchema): Annotations {
  return schema as Annotations;
}

/**
 * The environment variable for a dotted schema path: `SWB_`, then each camelCase segment in
 * UPPER_SNAKE, joined by `_` (`blob.s3.accessKeyId` → `SWB_BLOB_S3_ACCESS_KEY_ID`).
 */
export function envNameFor(path: string): string {
  return envPrefix + path.split('.').map(upperSnake).join('_');
}

function upperSnake(segment: string): string {
  return segment
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

/** Whether a schema (e.g. from `SecretString()`) holds a secret; JSON Schema's `writeOnly` marks it. */
export function isSecretSchema(schema: TSchema): boolean {
  return annotations(schema).writeOnly === true;
}

const fieldsCache = new WeakMap<TObject, readonly Field[]>();

/** The schema's leaves: nested objects are groups, anything else is a field with its own variable. */
function fieldsOf(schema: TObject): readonly Field[] {
  const cached = fieldsCache.get(schema);
  if (cached !== undefined) return cached;
  const fields: Field[] = [];
  const walk = (object: TObject, prefix: readonly string[]): void => {
    for (const [key, child] of Object.entries(object.properties)) {
      const segments = [...prefix, key];
      const path = segments.join('.');
      if (Type.IsObject(child)) {
        // A missing optional group would make every field inside it ambiguous to report on.
        if (Type.IsOptional(child)) {
          throw new TypeError(`config group ${path} is optional; make its fields optional instead`);
        }
        walk(child, segments);
        continue;
      }
      fields.push({
        path,
        segments,
        env: envNameFor(path),
        schema: child,
        optional: Type.IsOptional(child),
        secret: isSecretSchema(child),
      });
    }
  };
  walk(schema, []);
  const byEnv = new Map<string, string>();
  for (const field of fields) {
    const clash = byEnv.get(field.env);
    if (clash !== undefined) {
      throw new TypeError(`config fields ${clash} and ${field.path} both map to ${field.env}`);
    }
    byEnv.set(field.env, field.path);
  }
  fieldsCache.set(schema, fields);
  return fields;
}

/** The type as an operator reads it: `integer`, `list of string`, `"posix" | "s3"`. */
export function describeType(schema: TSchema): string {
  const custom = annotations(schema)['x-type'];
  if (typeof custom === 'string') return custom;
  if (Type.IsCodec(schema) && isSecretSchema(schema)) return 'secret string';
  if (Type.IsLiteral(schema)) return JSON.stringify(schema.const);
  if (Type.IsUnion(schema)) return schema.anyOf.map(describeType).join(' | ');
  if (Type.IsArray(schema)) return `list of ${describeType(schema.items)}`;
  if (Type.IsInteger(schema)) return 'integer';
  if (Type.IsNumber(schema)) return 'number';
  if (Type.IsBoolean(schema)) return 'boolean';
  if (Type.IsString(schema)) return 'string';
  return 'JSON value';
}

type Coerced = { readonly ok: true; readonly value: unknown } | { readonly ok: false };

const fail: Coerced = { ok: false };

function parseBoolean(raw: string): Coerced {
  const text = raw.trim().toLowerCase();
  if (text === 'true' || text === '1') return { ok: true, value: true };
  if (text === 'false' || text === '0') return { ok: true, value: false };
  return fail;
}

/**
 * Turns a string from the environment or the command line into the schema's type. A string that
 * does not convert is kept as is, so validation reports it with the expected type.
 */
function coerce(schema: TSchema, raw: string): Coerced {
  if (Type.IsInteger(schema)) {
    return /^\s*[+-]?\d+\s*$/.test(raw) ? { ok: true, value: Number(raw) } : fail;
  }
  if (Type.IsNumber(schema)) {
    const value = Number(raw);
    return raw.trim() !== '' && Number.isFinite(value) ? { ok: true, value } : fail;
  }
  if (Type.IsBoolean(schema)) return parseBoolean(raw);
  if (Type.IsLiteral(schema)) {
    const expected = schema.const;
    if (typeof expected === 'string') return { ok: true, value: raw };
    if (typeof expected === 'boolean') return parseBoolean(raw);
    const value = Number(raw);
    return raw.trim() !== '' && value === expected ? { ok: true, value } : fail;
  }
  if (Type.IsUnion(schema)) {
    for (const member of schema.anyOf) {
      const result = coerce(member, raw);
      if (result.ok && Value.Check(member, result.value)) return result;
    }
    return fail;
  }
  if (Type.IsString(schema)) return { ok: true, value: raw };
  if (Type.IsArray(schema)) {
    const items = parseList(raw);
    if (items === undefined) return fail;
    return {
      ok: true,
      value: items.map((item) => {
        if (typeof item !== 'string') return item;
        const result = coerce(schema.items, item);
        return result.ok ? result.value : item;
      }),
    };
  }
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    return fail;
  }
}

/** A JSON array, or a comma-separated list (blank items dropped, so `a,,b` is two items). */
function parseList(raw: string): readonly unknown[] | undefined {
  if (raw.trim().startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      return Array.isArray(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

interface Provided {
  readonly source: ConfigSource;
  readonly value: unknown;
  /** The text as typed, for env and argv values: error messages quote what the operator wrote. */
  readonly raw?: string;
}

type MutableRecord = Record<string, unknown>;

function isRecord(value: unknown): value is MutableRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getIn(root: unknown, segments: readonly string[]): unknown {
  let node = root;
  for (const segment of segments) {
    if (Array.isArray(node)) node = node[Number(segment)] as unknown;
    else if (isRecord(node)) node = node[segment];
    else return undefined;
  }
  return node;
}

function setIn(root: MutableRecord, segments: readonly string[], value: unknown): void {
  let node = root;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (isRecord(next)) {
      node = next;
    } else {
      const created: MutableRecord = {};
      node[segment] = created;
      node = created;
    }
  }
  const last = segments.at(-1);
  if (last !== undefined) node[last] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(redactUri(value));
  if (value === undefined) return 'nothing';
  return JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === 'string' ? redactUri(inner) : inner,
  );
}

/** Edit distance, for "did you mean" hints on mistyped variables. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

interface ValidationError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message: string;
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function bound(keyword: string): string | undefined {
  switch (keyword) {
    case 'maximum':
      return '≤';
    case 'exclusiveMaximum':
      return '<';
    case 'minimum':
      return '≥';
    case 'exclusiveMinimum':
      return '>';
    default:
      return undefined;
  }
}

function describeValidationError(schema: TSchema, error: ValidationError): string {
  const limit = error.params.limit;
  const comparison = bound(error.keyword);
  if (comparison !== undefined) {
    return `expected ${describeType(schema)} ${comparison} ${String(limit)}`;
  }
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'type':
    case 'anyOf':
    case 'const':
    case 'enum':
      return `expected ${describeType(schema)}`;
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `expected at least ${String(limit)} characters`;
    case 'maxLength':
      return `expected at most ${String(limit)} characters`;
    case 'minItems':
      return `expected at least ${plural(limit, 'item')}`;
    case 'maxItems':
      return `expected at most ${plural(limit, 'item')}`;
    case 'pattern':
      return `expected text matching ${String(error.params.pattern)}`;
    case 'format':
      return `expected ${String(error.params.format)}`;
    case 'uniqueItems':
      return 'expected distinct items';
    case '~refine':
      return typeof error.params.message === 'string' ? error.params.message : error.message;
    default:
      return error.message;
  }
}

function plural(count: unknown, noun: string): string {
  return `${String(count)} ${noun}${count === 1 ? '' : 's'}`;
}

/** Errors on a union's members repeat what the union's own error says; the union speaks for them. */
const keywordRank: Readonly<Record<string, number>> = { required: 0, anyOf: 1, const: 3, enum: 3 };

/** What the sources provided and what went wrong so far, shared by the steps of a load. */
interface LoadState {
  readonly fields: readonly Field[];
  readonly byPath: ReadonlyMap<string, Field>;
  readonly provided: Map<string, Provided>;
  readonly issues: ConfigIssue[];
  readonly warnings: ConfigWarning[];
  /** Fields whose text could not even be parsed; validation would only repeat the issue. */
  readonly unparsable: Set<string>;
  file?: string;
}

/**
 * Loads a daemon's configuration once, at startup: schema defaults < `defaults` < the JSON file
 * named by `SWB_CONFIG` < `SWB_*` environment variables < `argvOverrides`. Environment values are
 * converted to the field's type (integers, booleans `true/false/1/0`, lists as `a,b` or a JSON
 * array, literal unions); an empty variable counts as unset. Fields made with `SecretString()`
 * decode to `Secret`. The result is deeply frozen.
 *
 * Throws one `ConfigError` naming every bad field with its variable (never a secret's value);
 * An `SWB_*` variable that matches no field is ignored (it may be another daemon's), unless it is
 * within two edits of one of this daemon's: then it comes back in `warnings`, so a typo such as
 * `SWB_OPS_PROT` is visible.
 */
export function loadConfig<S extends TObject>(
  schema: S,
  options: LoadConfigOptions,
): LoadedConfig<S> {
  const fields = fieldsOf(schema);
  const state: LoadState = {
    fields,
    byPath: new Map(fields.map((field) => [field.path, field])),
    provided: new Map(),
    issues: [],
    warnings: [],
    unparsable: new Set(),
  };
  const requiredWhen = options.requiredWhen ?? [];
  for (const rule of requiredWhen) {
    for (const path of [rule.path, rule.when]) {
      if (!state.byPath.has(path)) throw new TypeError(`requiredWhen names unknown field ${path}`);
    }
  }

  for (const [path, value] of Object.entries(options.defaults ?? {})) {
    const field = state.byPath.get(path);
    if (field === undefined) throw new TypeError(`default given for unknown field ${path}`);
    state.provided.set(path, { source: 'default', value });
  }
  const file = options.file ?? nonEmpty(options.env[configFileEnv]);
  if (file !== undefined) {
    state.file = file;
    readFileSource(state, schema, file, options.readFile ?? defaultReadFile);
  }
  readEnvSource(state, options.env);
  readArgvSource(state, options.argvOverrides ?? []);

  const raw = assemble(state);
  const invalid = validate(state, schema, raw);
  checkRequiredWhen(state, requiredWhen, raw, invalid);

  if (state.issues.length > 0) throw new ConfigError(state.issues, { warnings: state.warnings });
  const config = Value.Decode(schema, raw) as ConfigOf<S>;
  return { config: deepFreeze(config), warnings: state.warnings };
}

function provideText(state: LoadState, field: Field, source: ConfigSource, raw: string): void {
  const result = coerce(field.schema, raw);
  if (result.ok) {
    state.provided.set(field.path, { source, value: result.value, raw });
  } else if (Type.IsArray(field.schema) && raw.trim().startsWith('[')) {
    state.unparsable.add(field.path);
    state.issues.push({
      path: field.path,
      env: field.env,
      source,
      message: 'expected a JSON array or a comma-separated list',
      ...(field.secret ? {} : { received: quote(raw) }),
    });
  } else {
    // Left as text: validation reports it against the expected type.
    state.provided.set(field.path, { source, value: raw, raw });
  }
}

function readFileSource(
  state: LoadState,
  schema: TObject,
  file: string,
  readFile: (path: string) => string,
): void {
  const contents = readConfigFile(file, readFile);
  if (!contents.ok) {
    // One more issue: the environment is still checked in full.
    state.issues.push({ path: '', env: configFileEnv, source: 'env', message: contents.message });
    return;
  }
  const visit = (node: MutableRecord, object: TObject, prefix: readonly string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      const path = [...prefix, key].join('.');
      const child = object.properties[key];
      if (child === undefined) {
        state.warnings.push({ key: path, message: `${file}: key ${path} matches no field` });
      } else if (Type.IsObject(child)) {
        if (isRecord(value)) {
          visit(value, child, [...prefix, key]);
        } else {
          state.issues.push({
            path,
            env: `${envNameFor(path)}_*`,
            source: 'file',
            file,
            message: 'expected an object',
            received: quote(value),
          });
        }
      }
    }
  };
  visit(contents.value, schema, []);
  for (const field of state.fields) {
    const value = getIn(contents.value, field.segments);
    if (value !== undefined) state.provided.set(field.path, { source: 'file', value });
  }
}

function readEnvSource(state: LoadState, env: LoadConfigOptions['env']): void {
  const byEnv = new Map(state.fields.map((field) => [field.env, field]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(envPrefix) || name === configFileEnv) continue;
    const field = byEnv.get(name);
    if (field === undefined) {
      // One environment often serves several daemons (compose env files, `npm start`), so
      // another role's variables are expected here; only a near miss of one of ours is
      // worth a warning, as the likely typo it is.
      const hint = closest(name, [...byEnv.keys()]);
      if (hint !== undefined) {
        state.warnings.push({
          key: name,
          message: `${name} matches no configuration field; did you mean ${hint}?`,
        });
      }
      continue;
    }
    const text = nonEmpty(raw);
    if (text !== undefined) provideText(state, field, 'env', text);
  }
}

function readArgvSource(state: LoadState, argv: readonly string[]): void {
  for (const argument of argv) {
    const match = /^--([A-Za-z0-9.]+)=(.*)$/s.exec(argument);
    const field = match?.[1] === undefined ? undefined : state.byPath.get(match[1]);
    if (match === null || field === undefined) {
      state.issues.push({
        path: argument,
        env: '',
        source: 'argv',
        message: 'is not a configuration option (expected --<path>=<value>, e.g. --ops.port=9400)',
      });
      continue;
    }
    provideText(state, field, 'argv', match[2] ?? '');
  }
}

/** The unvalidated config object: each field from its highest source, or its schema default. */
function assemble(state: LoadState): MutableRecord {
  const raw: MutableRecord = {};
  for (const field of state.fields) {
    // Every group exists, so a missing field reports as itself, not as its whole group.
    const group = field.segments.slice(0, -1);
    setIn(raw, group, getIn(raw, group) ?? {});
    const entry = state.provided.get(field.path);
    const fallback = annotations(field.schema).default;
    if (entry !== undefined) setIn(raw, field.segments, entry.value);
    else if (fallback !== undefined) setIn(raw, field.segments, structuredClone(fallback));
  }
  return raw;
}

/** Adds one issue per invalid field (the most telling error); returns the invalid paths. */
function validate(state: LoadState, schema: TObject, raw: MutableRecord): ReadonlySet<string> {
  const byField = new Map<string, { field: Field; rest: string[]; error: ValidationError }>();
  for (const error of Value.Errors(schema, raw) as readonly ValidationError[]) {
    const segments = pointerSegments(error.instancePath);
    const targets =
      error.keyword === 'required' && Array.isArray(error.params.requiredProperties)
        ? (error.params.requiredProperties as readonly string[]).map((key) => [...segments, key])
        : [segments];
    for (const target of targets) {
      const field = state.fields.find((f) => f.segments.every((s, i) => target[i] === s));
      if (field === undefined) {
        const path = target.join('.');
        if (!state.issues.some((issue) => issue.path === path)) {
          state.issues.push({ path, env: '', source: 'default', message: error.message });
        }
        continue;
      }
      if (state.unparsable.has(field.path)) continue;
      const current = byField.get(field.path);
      const rank = keywordRank[error.keyword] ?? 2;
      if (current === undefined || rank < (keywordRank[current.error.keyword] ?? 2)) {
        byField.set(field.path, { field, rest: target.slice(field.segments.length), error });
      }
    }
  }

  for (const { field, rest, error } of byField.values()) {
    const entry = state.provided.get(field.path);
    const itemSchema =
      rest.length > 0 && Type.IsArray(field.schema) ? field.schema.items : undefined;
    const message = describeValidationError(itemSchema ?? field.schema, error);
    const missing = error.keyword === 'required';
    const received =
      field.secret || missing
        ? undefined
        : rest.length === 0 && entry?.raw !== undefined
          ? quote(entry.raw)
          : quote(getIn(raw, [...field.segments, ...rest]));
    state.issues.push({
      path: field.path,
      env: field.env,
      source: missing ? 'missing' : (entry?.source ?? 'default'),
      message: rest.length > 0 ? `item ${rest.join('.')}: ${message}` : message,
      ...(received === undefined ? {} : { received }),
      ...(entry?.source === 'file' && state.file !== undefined ? { file: state.file } : {}),
    });
  }
  return new Set(byField.keys());
}

function checkRequiredWhen(
  state: LoadState,
  rules: readonly RequiredWhen[],
  raw: MutableRecord,
  invalid: ReadonlySet<string>,
): void {
  for (const rule of rules) {
    const field = state.byPath.get(rule.path);
    const when = state.byPath.get(rule.when);
    if (field === undefined || when === undefined || invalid.has(field.path)) continue;
    if (
      conditionHolds(rule, getIn(raw, when.segments)) &&
      getIn(raw, field.segments) === undefined
    ) {
      state.issues.push({
        path: field.path,
        env: field.env,
        source: 'missing',
        message: `is required when ${describeCondition(rule, when.env)}`,
      });
    }
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

function errorMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function readConfigFile(
  file: string,
  readFile: (path: string) => string,
):
  | { readonly ok: true; readonly value: MutableRecord }
  | { readonly ok: false; readonly message: string } {
  let text: string;
  try {
    text = readFile(file);
  } catch (cause) {
    return { ok: false, message: `cannot read config file ${file}: ${errorMessage(cause)}` };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed)
      ? { ok: true, value: parsed }
      : { ok: false, message: `config file ${file} must hold a JSON object` };
  } catch (cause) {
    return { ok: false, message: `config file ${file} is not valid JSON: ${errorMessage(cause)}` };
  }
}

/**
 * One row per field, for generated docs and `--help`: path, variable, type, default (secrets'
 * defaults shown as `[redacted]`), description, and whether it is required.
 */
export function describeConfig(
  schema: TObject,
  options: { readonly requiredWhen?: readonly RequiredWhen[] } = {},
): readonly ConfigFieldDescription[] {
  return fieldsOf(schema).map((field) => {
    const notes = annotations(field.schema);
    const computed = notes['x-default'];
    const fallback = notes.default;
    const hasDefault = typeof computed === 'string' || fallback !== undefined;
    // A secret's default is hidden whichever way it is written, even as a note for the docs.
    const shownDefault = !hasDefault
      ? undefined
      : field.secret
        ? '[redacted]'
        : typeof computed === 'string'
          ? computed
          : JSON.stringify(fallback);
    // Several rules for one field are alternatives: each one alone makes it required.
    const conditions = (options.requiredWhen ?? [])
      .filter((rule) => rule.path === field.path)
      .map((rule) =>
        'equals' in rule ? `${rule.when} = ${JSON.stringify(rule.equals)}` : `${rule.when} is set`,
      );
    return {
      path: field.path,
      env: field.env,
      type: describeType(field.schema),
      ...(shownDefault === undefined ? {} : { default: shownDefault }),
      ...(typeof notes.description === 'string' ? { description: notes.description } : {}),
      secret: field.secret,
      required: !field.optional && shownDefault === undefined,
      ...(conditions.length === 0 ? {} : { requiredWhen: conditions.join(' or ') }),
    };
  });
}
