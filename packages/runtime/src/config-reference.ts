import type { TObject } from 'typebox';
import { describeConfig, type ConfigFieldDescription, type RequiredWhen } from './config.js';

/** One daemon's (or command's) part of the configuration reference. */
export interface ConfigReferenceSection {
  /** The heading: the role or command, e.g. `worker` or `switchboard-migrate`. */
  readonly name: string;
  /** One sentence on what the daemon is, printed under the heading. */
  readonly summary: string;
  readonly schema: TObject;
  readonly requiredWhen?: readonly RequiredWhen[];
}

/** The comments that delimit the generated reference in a Markdown file. */
export const configReferenceMarkers = {
  start: '<!-- config-reference:start -->',
  end: '<!-- config-reference:end -->',
} as const;

const columns = ['Variable', 'Path', 'Type', 'Default', 'Required', 'Description'] as const;

/**
 * The configuration reference as Markdown: for each section, a heading, its summary and a table
 * with one row per field (variable, path, type, default, required, description), from
 * `describeConfig`. A secret's default is never printed, only that it has one. Text is escaped,
 * so a `|` or a `<host>` in a description reads as written. Tables are padded the way Prettier
 * pads them, so the output is stable under `prettier --write`.
 */
export function renderConfigReference(sections: readonly ConfigReferenceSection[]): string {
  return sections.map(renderSection).join('\n');
}

function renderSection(section: ConfigReferenceSection): string {
  const rows = describeConfig(section.schema, {
    ...(section.requiredWhen === undefined ? {} : { requiredWhen: section.requiredWhen }),
  });
  return [
    `## ${escapeText(section.name)}`,
    '',
    escapeText(section.summary),
    '',
    ...table([columns, ...rows.map(cells)]),
    '',
  ].join('\n');
}

function cells(row: ConfigFieldDescription): readonly string[] {
  return [
    codeSpan(row.env),
    codeSpan(row.path),
    escapeText(row.type),
    defaultCell(row),
    requiredCell(row),
    row.description === undefined ? '' : escapeText(row.description),
  ];
}

function defaultCell(row: ConfigFieldDescription): string {
  if (row.default === undefined) return '—';
  // Checked here too, not only in describeConfig: this text is published.
  return row.secret ? 'redacted' : codeSpan(row.default);
}

function requiredCell(row: ConfigFieldDescription): string {
  if (row.required) return 'yes';
  return row.requiredWhen === undefined ? 'no' : `when ${escapeText(row.requiredWhen)}`;
}

/** Rows padded to the widest cell of each column (at least 3), as Prettier prints a table. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((_, i) =>
    Math.max(3, ...rows.map((row) => displayWidth(row[i] ?? ''))),
  );
  const line = (row: readonly string[]): string =>
    `| ${widths.map((width, i) => pad(row[i] ?? '', width)).join(' | ')} |`;
  const [head, ...body] = rows;
  return [
    line(head ?? []),
    line(widths.map((width) => '-'.repeat(width))),
    ...body.map((row) => line(row)),
  ];
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(width - displayWidth(text));
}

/**
 * Code points, which is what Prettier counts for the text these tables hold (no wide glyphs, no
 * combining marks); `npm run docs` formats with Prettier anyway, so a miscount costs nothing.
 */
function displayWidth(text: string): number {
  return Array.from(text).length;
}

/**
 * Plain text in Markdown: every character that could start markup is backslash-escaped, so a
 * description such as `starts <indexPrefix>-` is not read as an HTML tag, nor `a | b` as two cells.
 */
function escapeText(text: string): string {
  return text.replace(/[\\`*_[\]<>|&~]/g, (character) => `\\${character}`);
}

/** A code span around text that may itself hold backticks; `|` stays escaped inside a table. */
function codeSpan(text: string): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const padding = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${padding}${text.replaceAll('|', '\\|')}${padding}${fence}`;
}

/**
 * The document with the text between the reference markers replaced by `reference`. Throws a
 * `TypeError` when the markers are missing or out of order, rather than appending somewhere.
 */
export function replaceConfigReference(document: string, reference: string): string {
  const { start, end } = configReferenceMarkers;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from === -1 || to === -1 || to < from) {
    throw new TypeError(`expected ${start} and then ${end} in the document`);
  }
  return `${document.slice(0, from + start.length)}\n\n${reference.trim()}\n\n${document.slice(to)}`;
}
