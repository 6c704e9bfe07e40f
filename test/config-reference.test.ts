import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { controllerConfigReference } from '@switchboard/controller';
import { queueConfigReference } from '@switchboard/queue';
import {
  ConfigError,
  SecretString,
  Type,
  configReferenceMarkers,
  describeConfig,
  envNameFor,
  loadConfig,
  renderConfigReference,
  replaceConfigReference,
  type ConfigReferenceSection,
} from '@switchboard/runtime';
import { sipEdgeConfigReference } from '@switchboard/sip-edge';
import { migrateConfigReference } from '@switchboard/storage';
import { workerConfigReference } from '@switchboard/worker';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';

const docFile = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

// The same sections, in the same order, as scripts/docs.mjs writes.
const sections: readonly ConfigReferenceSection[] = [
  controllerConfigReference,
  queueConfigReference,
  workerConfigReference,
  sipEdgeConfigReference,
  migrateConfigReference,
];

interface Row {
  readonly variable: string;
  readonly path: string;
  readonly type: string;
  readonly default: string;
  readonly required: string;
  readonly description: string;
}

/** A table row's cells as written: split at the pipes that are not escaped. */
function cellsOf(line: string): string[] {
  return line
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((cell) => cell.trim());
}

/** Each section's rows, keyed by the path in the row (code span removed), by section heading. */
function parse(markdown: string): Map<string, Map<string, Row>> {
  const result = new Map<string, Map<string, Row>>();
  let rows: Map<string, Row> | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^## (.+)$/.exec(line);
    if (heading?.[1] !== undefined) {
      rows = new Map();
      result.set(heading[1], rows);
      continue;
    }
    if (rows === undefined || !line.startsWith('|')) continue;
    const cells = cellsOf(line);
    expect(cells, `a row with six cells: ${line}`).toHaveLength(6);
    const [variable = '', path = '', type = '', fallback = '', required = '', description = ''] =
      cells;
    if (variable === 'Variable' || /^-+$/.test(variable)) continue;
    rows.set(unCode(path), { variable, path, type, default: fallback, required, description });
  }
  return result;
}

function unCode(cell: string): string {
  const match = /^`(.*)`$/.exec(cell);
  if (match?.[1] === undefined) throw new Error(`expected a code span, got ${cell}`);
  return match[1];
}

function rowsOf(markdown: string, section: string): Map<string, Row> {
  const rows = parse(markdown).get(section);
  if (rows === undefined) throw new Error(`no section ${section}`);
  return rows;
}

function row(rows: ReadonlyMap<string, Row>, path: string): Row {
  const found = rows.get(path);
  if (found === undefined) throw new Error(`no row for ${path}`);
  return found;
}

/** The variables the loader reports missing when nothing at all is configured. */
function missingWithNothingSet(section: ConfigReferenceSection): string[] {
  try {
    loadConfig(section.schema, {
      env: {},
      // runMain computes the node id; every other default is the schema's.
      ...('nodeId' in section.schema.properties ? { defaults: { nodeId: 'test-node' } } : {}),
      ...(section.requiredWhen === undefined ? {} : { requiredWhen: section.requiredWhen }),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.filter((issue) => issue.source === 'missing').map((issue) => issue.env);
  }
  return [];
}

const reference = renderConfigReference(sections);

describe('the configuration reference', () => {
  it('is what docs/configuration.md holds, so a schema changed without `npm run docs` fails here', async () => {
    const committed = await readFile(docFile, 'utf8');
    const expected = await prettier.format(replaceConfigReference(committed, reference), {
      ...(await prettier.resolveConfig(docFile)),
      filepath: docFile,
    });
    expect(committed, 'docs/configuration.md is out of date: run `npm run docs`').toBe(expected);
  });

  it('has a section per daemon and one for the migrate command, each with every field', () => {
    const parsed = parse(reference);
    expect([...parsed.keys()]).toEqual([
      'controller',
      'queue',
      'worker',
      'sip-edge',
      'switchboard-migrate',
    ]);
    for (const section of sections) {
      const paths = describeConfig(section.schema).map((field) => field.path);
      expect([...rowsOf(reference, section.name).keys()], section.name).toEqual(paths);
      expect(reference).toContain(`## ${section.name}\n\n${section.summary}\n`);
    }
  });

  it('names each field by the variable envNameFor gives its path', () => {
    for (const section of sections) {
      for (const [path, { variable }] of rowsOf(reference, section.name)) {
        expect(variable, `${section.name} ${path}`).toBe(`\`${envNameFor(path)}\``);
      }
    }
  });

  it('marks the fields the loader requires as required, and the conditional ones with their condition', () => {
    for (const section of sections) {
      const rows = rowsOf(reference, section.name);
      const byVariable = new Map([...rows.values()].map((r) => [unCode(r.variable), r]));
      const missing = missingWithNothingSet(section);
      const markedYes = [...byVariable].filter(([, r]) => r.required === 'yes').map(([v]) => v);
      expect(markedYes.length, `${section.name} has required fields`).toBeGreaterThan(0);
      // Everything marked "yes" is missing with nothing set; what else is missing is conditional.
      expect(missing, section.name).toEqual(expect.arrayContaining(markedYes));
      for (const variable of missing) {
        expect(byVariable.get(variable)?.required, `${section.name} ${variable}`).toMatch(
          /^(yes|when .+)$/,
        );
      }
      for (const rule of section.requiredWhen ?? []) {
        expect(row(rows, rule.path).required, `${section.name} ${rule.path}`).toMatch(
          new RegExp(`^when .*${rule.when.replaceAll('.', '\\.')}`),
        );
      }
    }
    expect(row(rowsOf(reference, 'worker'), 'sql.primary').required).toBe('yes');
    expect(row(rowsOf(reference, 'worker'), 'spool.dir').required).toBe('yes');
    expect(row(rowsOf(reference, 'worker'), 'blob.root').required).toBe(
      'when blob.driver = "posix"',
    );
    expect(row(rowsOf(reference, 'worker'), 'blob.s3.bucket').required).toBe(
      'when blob.driver = "s3"',
    );
    expect(row(rowsOf(reference, 'controller'), 'api.adminToken').required).toBe('yes');
    expect(row(rowsOf(reference, 'queue'), 'controller.joinToken').required).toBe(
      'when controller.urls is set',
    );
    expect(row(rowsOf(reference, 'sip-edge'), 'auth.nonceSecret').required).toBe(
      'when drachtio.host is set',
    );
    expect(row(rowsOf(reference, 'switchboard-migrate'), 'sql.primary').required).toBe('yes');
    expect(row(rowsOf(reference, 'controller'), 'ops.port').required).toBe('no');
  });

  it("never prints a secret's default", () => {
    // drachtio-server's well-known shared secret is the sip-edge's default.
    expect(row(rowsOf(reference, 'sip-edge'), 'drachtio.secret').default).toBe('redacted');
    expect(reference).not.toContain('cymru');
    for (const section of sections) {
      for (const field of describeConfig(section.schema).filter((f) => f.secret)) {
        expect(row(rowsOf(reference, section.name), field.path).default).toMatch(/^(—|redacted)$/);
      }
    }

    const rendered = renderConfigReference([
      {
        name: 'example',
        summary: 'An example.',
        schema: Type.Object({
          token: SecretString({ default: 'hunter2-token' }),
          derived: SecretString({ 'x-default': 'hunter2-derived' }),
          plain: Type.String({ default: 'visible-default' }),
        }),
      },
    ]);
    expect(rendered).not.toContain('hunter2');
    expect(row(rowsOf(rendered, 'example'), 'token').default).toBe('redacted');
    expect(row(rowsOf(rendered, 'example'), 'derived').default).toBe('redacted');
    expect(row(rowsOf(rendered, 'example'), 'plain').default).toBe('`"visible-default"`');
  });

  it('escapes a | in a description, a type and a default, so the table keeps its columns', () => {
    const rendered = renderConfigReference([
      {
        name: 'example',
        summary: 'Reads <this> | that.',
        schema: Type.Object({
          mode: Type.String({ default: 'a|b', description: 'either a | b, see <docs> and *x*' }),
        }),
      },
    ]);
    const mode = row(rowsOf(rendered, 'example'), 'mode');
    expect(mode.description).toBe('either a \\| b, see \\<docs\\> and \\*x\\*');
    expect(mode.default).toBe('`"a\\|b"`');
    expect(rendered).toContain('Reads \\<this\\> \\| that.');
    // A literal union's type has pipes of its own.
    expect(row(rowsOf(reference, 'worker'), 'blob.driver').type).toBe('"posix" \\| "s3"');
  });

  it('replaces only the text between the markers, and refuses a document without them', () => {
    const { start, end } = configReferenceMarkers;
    const document = `# Title\n\nBefore.\n\n${start}\nold\n${end}\n\nAfter.\n`;
    expect(replaceConfigReference(document, 'new\n')).toBe(
      `# Title\n\nBefore.\n\n${start}\n\nnew\n\n${end}\n\nAfter.\n`,
    );
    expect(() => replaceConfigReference('# Title\n', 'new')).toThrow(TypeError);
    expect(() => replaceConfigReference(`${end}\n${start}\n`, 'new')).toThrow(TypeError);
  });
});
