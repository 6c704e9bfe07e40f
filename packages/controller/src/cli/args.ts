import { parseArgs } from 'node:util';
import { nodeRoles, type NodeRole, type NodeStatus } from '@switchboard/runtime';
import type { TokenSource } from './client.js';
import { usageError } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const DEFAULT_DRAIN_TIMEOUT_MS = 60_000;

const nodeStatuses: readonly NodeStatus[] = ['up', 'down', 'draining'];
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const PLAN_ID = /^[0-9a-f-]{36}$/;

/** What the command line asks for, once parsed and checked. */
export type Command =
  | { readonly kind: 'help'; readonly topic: HelpTopic }
  | { readonly kind: 'status' }
  | { readonly kind: 'nodes'; readonly role?: NodeRole; readonly status?: NodeStatus }
  | {
      readonly kind: 'drain';
      readonly id: string;
      readonly wait: boolean;
      readonly timeoutMs: number;
    }
  | { readonly kind: 'resume'; readonly id: string }
  | { readonly kind: 'plan'; readonly source: { file: string } | { stdin: true } }
  | { readonly kind: 'plan-apply'; readonly id: string; readonly watch: boolean }
  | { readonly kind: 'plan-show'; readonly id: string }
  | { readonly kind: 'plan-list' }
  | {
      readonly kind: 'accounts-add';
      readonly username: string;
      readonly domain: string;
      readonly disabled: boolean;
    }
  | {
      readonly kind: 'accounts-set';
      readonly username: string;
      readonly domain: string;
      readonly action: 'enable' | 'disable' | 'remove';
    }
  | { readonly kind: 'accounts-list'; readonly domain?: string };

export interface GlobalOptions {
  readonly url: string;
  /** Never printed; only the client puts it in a header. */
  readonly token: string | undefined;
  readonly tokenSource: TokenSource;
  readonly json: boolean;
}

export interface Invocation {
  readonly global: GlobalOptions;
  readonly command: Command;
}

/** The environment variables the CLI reads (the executable passes `process.env`). */
export interface CliEnv {
  readonly SWB_CONTROLLER_URL?: string | undefined;
  readonly SWB_ADMIN_TOKEN?: string | undefined;
  /** `accounts add`'s password when not read from standard input. */
  readonly SWB_SIP_PASSWORD?: string | undefined;
}

const globalOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const commandOptions = {
  status: {},
  nodes: { role: { type: 'string' }, status: { type: 'string' } },
  drain: { wait: { type: 'boolean' }, timeout: { type: 'string' } },
  resume: {},
  plan: {
    file: { type: 'string', short: 'f' },
    stdin: { type: 'boolean' },
    watch: { type: 'boolean' },
  },
  accounts: {
    domain: { type: 'string' },
    disabled: { type: 'boolean' },
  },
} as const;

type CommandName = keyof typeof commandOptions;
export type HelpTopic = CommandName | 'plan apply' | 'plan show' | 'plan list' | undefined;

/** `user@domain`, as accounts are named on the command line. */
const ACCOUNT = /^([^@\s]+)@([^@\s]+)$/;
const ACCOUNT_ACTIONS = ['add', 'enable', 'disable', 'remove', 'list'] as const;

const GLOBAL_HELP = `global options:
  --url URL      the controller (default: $SWB_CONTROLLER_URL, else ${DEFAULT_URL})
  --token TOKEN  the admin token (default: $SWB_ADMIN_TOKEN); prefer the variable, since
                 arguments show in the process list
  --json         machine-readable output (errors too, on stderr)
  -h, --help     help for a command`;

const HELP: Record<Exclude<HelpTopic, undefined>, string> & { main: string } = {
  main: `usage: switchboard <command> [options]

commands:
  status                  controller, leader, topology, nodes, SQL, kv at a glance
  nodes                   the registered nodes (--role, --status)
  drain <id>              stop giving a node new work (--wait until it is idle)
  resume <id>             give a drained node work again
  plan --file F|--stdin   review a proposed layout (exit 2 when it has errors)
  plan apply <id>         apply a plan's slot moves (--watch to follow it)
  plan show <id>          one plan, with its progress or result
  plan list               every plan, newest first
  accounts add <user@domain>       a SIP account (password from stdin or $SWB_SIP_PASSWORD)
  accounts enable|disable <user@domain>, accounts remove <user@domain>
  accounts list [--domain D]       SIP accounts (no digests)

${GLOBAL_HELP}

exit codes: 0 ok, 1 failure, 2 usage error, invalid request or a plan with errors`,
  status: `usage: switchboard status [--json]

The controller answering and the leader, the topology version, nodes by status and role,
the SQL primary and replicas (health and lag) and the kv cluster's state and AGs.

${GLOBAL_HELP}`,
  nodes: `usage: switchboard nodes [--role ROLE] [--status STATUS] [--json]

  --role ROLE      only nodes with this role (${nodeRoles.join(', ')})
  --status STATUS  only nodes with this status (${nodeStatuses.join(', ')})

${GLOBAL_HELP}`,
  drain: `usage: switchboard drain <id> [--wait [--timeout 60s]]

Marks the node drained: it finishes what it has and takes no new work.
  --wait          then wait until the node reports no active jobs or calls
  --timeout T     how long to wait (e.g. 90, 90s, 2m; default 60s); exit 1 when it runs out

${GLOBAL_HELP}`,
  resume: `usage: switchboard resume <id>

Brings a drained node back: it takes work again.

${GLOBAL_HELP}`,
  plan: `usage: switchboard plan (--file proposal.json | --stdin)
       switchboard plan apply <id> [--watch]
       switchboard plan show <id>
       switchboard plan list

Reviews a proposed layout (the body of POST /v1/plans) and prints its findings by severity,
and, when it names kv.target, the slot moves and what they carry. Exit 2 when it has errors.
  -f, --file F  the proposal, a JSON file
  --stdin       read the proposal from standard input

${GLOBAL_HELP}`,
  'plan apply': `usage: switchboard plan apply <id> [--watch]

Asks the leader to apply the plan's slot moves.
  --watch  follow the plan until it is applied (exit 0) or failed (exit 1)

${GLOBAL_HELP}`,
  'plan show': `usage: switchboard plan show <id>

One plan: its findings, slot moves, and its progress, result or error.

${GLOBAL_HELP}`,
  'plan list': `usage: switchboard plan list

Every plan, newest first.

${GLOBAL_HELP}`,
  accounts: `usage: switchboard accounts add <user@domain> [--disabled]
       switchboard accounts enable|disable|remove <user@domain>
       switchboard accounts list [--domain D]

The SIP edge's accounts. add reads the password from standard input (first line), or from
$SWB_SIP_PASSWORD when stdin is a terminal; never from an argument, which the process list
shows. The controller stores only its MD5 and SHA-256 digests. add on an existing account sets
its password.

${GLOBAL_HELP}`,
};

/** The help text for a topic (the command overview when none). */
export function helpText(topic: HelpTopic): string {
  return topic === undefined ? HELP.main : HELP[topic];
}

function isCommand(word: string): word is CommandName {
  return Object.hasOwn(commandOptions, word);
}

/** The index of the command word: the first argument that is neither an option nor its value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (arg === '--url' || arg === '--token') {
      i++;
      continue;
    }
    if (!arg.startsWith('-')) return i;
  }
  return -1;
}

/** parseArgs's messages end with advice about `--` that does not help here. */
function parseMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\. To specify a positional argument.*$/s, '');
}

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) {
    throw usageError(`--timeout ${JSON.stringify(text)}: give a duration such as 90, 90s or 2m`);
  }
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? value : unit === 'm' ? value * 60_000 : value * 1000);
}

function resolveUrl(given: string | undefined, env: CliEnv): string {
  const fromEnv = env.SWB_CONTROLLER_URL?.trim();
  const url = given ?? (fromEnv === undefined || fromEnv === '' ? DEFAULT_URL : fromEnv);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(
      `${given === undefined ? 'SWB_CONTROLLER_URL' : '--url'} is not a URL: give one such as ${DEFAULT_URL}`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(
      `${given === undefined ? 'SWB_CONTROLLER_URL' : '--url'} must be an http or https URL`,
    );
  }
  return url;
}

function one(positionals: readonly string[], what: string, pattern: RegExp, hint: string): string {
  const [id, ...extra] = positionals;
  if (id === undefined) throw usageError(`missing ${what}`);
  if (extra.length > 0) throw usageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (!pattern.test(id)) throw usageError(`${JSON.stringify(id)} is not a ${what}: ${hint}`);
  return id;
}

function none(positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  }
}

/**
 * Parses `argv` (without `node` and the script) into global options and one command, or throws
 * a usage `CliError`. Options may come before or after the command word.
 */
export function parseInvocation(argv: readonly string[], env: CliEnv): Invocation {
  const at = commandIndex(argv);
  const word = at === -1 ? undefined : argv[at];
  if (word !== undefined && word !== 'help' && !isCommand(word)) {
    throw usageError(`unknown command ${JSON.stringify(word)}; run switchboard --help`);
  }
  const rest = at === -1 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 1)];
  const options = {
    ...globalOptions,
    ...(word === undefined || word === 'help' ? {} : commandOptions[word]),
  };
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(
      `${parseMessage(error)}; run switchboard ${word ?? ''} --help`.replace('  ', ' '),
    );
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const positionals = parsed.positionals;
  const str = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const flag = (name: string): boolean => values[name] === true;

  const tokenFlag = str('token');
  const envToken = env.SWB_ADMIN_TOKEN === '' ? undefined : env.SWB_ADMIN_TOKEN;
  const global: GlobalOptions = {
    url: resolveUrl(str('url'), env),
    token: tokenFlag ?? envToken,
    tokenSource: tokenFlag !== undefined ? 'flag' : envToken !== undefined ? 'env' : 'none',
    json: flag('json'),
  };

  if (word === undefined || word === 'help') {
    const topic = word === 'help' ? positionals.join(' ') : '';
    if (word === undefined && !flag('help')) throw usageError(`missing command\n\n${HELP.main}`);
    if (topic !== '' && !Object.hasOwn(HELP, topic)) {
      throw usageError(`no help for ${JSON.stringify(topic)}; run switchboard --help`);
    }
    return {
      global,
      command: { kind: 'help', topic: topic === '' ? undefined : (topic as HelpTopic) },
    };
  }

  if (word === 'plan') {
    const sub = positionals[0];
    const subArgs = positionals.slice(1);
    if (sub === 'apply' || sub === 'show' || sub === 'list') {
      if (flag('help')) return { global, command: { kind: 'help', topic: `plan ${sub}` } };
      if (str('file') !== undefined || flag('stdin')) {
        throw usageError(`--file and --stdin belong to switchboard plan, not plan ${sub}`);
      }
      if (sub !== 'apply' && flag('watch')) throw usageError('--watch belongs to plan apply');
      const hint = 'plan ids are UUIDs, as switchboard plan list shows';
      if (sub === 'list') {
        none(subArgs);
        return { global, command: { kind: 'plan-list' } };
      }
      const id = one(subArgs, 'plan id', PLAN_ID, hint);
      return sub === 'apply'
        ? { global, command: { kind: 'plan-apply', id, watch: flag('watch') } }
        : { global, command: { kind: 'plan-show', id } };
    }
    if (flag('help')) return { global, command: { kind: 'help', topic: 'plan' } };
    if (sub !== undefined) {
      throw usageError(`unknown plan command ${JSON.stringify(sub)}: apply, show or list`);
    }
    if (flag('watch')) throw usageError('--watch belongs to plan apply');
    const file = str('file');
    if (file !== undefined && flag('stdin')) throw usageError('give --file or --stdin, not both');
    if (file === undefined && !flag('stdin')) {
      throw usageError('give the proposal with --file proposal.json or --stdin');
    }
    return {
      global,
      command: { kind: 'plan', source: file === undefined ? { stdin: true } : { file } },
    };
  }

  if (word === 'accounts') {
    if (flag('help')) return { global, command: { kind: 'help', topic: 'accounts' } };
    const [action, ...args] = positionals;
    if (action === undefined || !(ACCOUNT_ACTIONS as readonly string[]).includes(action)) {
      throw usageError(`accounts: give one of ${ACCOUNT_ACTIONS.join(', ')}`);
    }
    if (action === 'list') {
      none(args);
      const domain = str('domain');
      return {
        global,
        command: { kind: 'accounts-list', ...(domain === undefined ? {} : { domain }) },
      };
    }
    if (str('domain') !== undefined) throw usageError('--domain goes with accounts list');
    const name = one(args, 'account', ACCOUNT, 'write it user@domain');
    const [, username = '', domain = ''] = ACCOUNT.exec(name) ?? [];
    if (action === 'add') {
      return {
        global,
        command: { kind: 'accounts-add', username, domain, disabled: flag('disabled') },
      };
    }
    if (flag('disabled')) throw usageError('--disabled goes with accounts add');
    return {
      global,
      command: {
        kind: 'accounts-set',
        username,
        domain,
        action: action as 'enable' | 'disable' | 'remove',
      },
    };
  }

  if (flag('help')) return { global, command: { kind: 'help', topic: word } };
  switch (word) {
    case 'status':
      none(positionals);
      return { global, command: { kind: 'status' } };
    case 'nodes': {
      none(positionals);
      const role = str('role');
      const status = str('status');
      if (role !== undefined && !(nodeRoles as readonly string[]).includes(role)) {
        throw usageError(`--role ${JSON.stringify(role)}: one of ${nodeRoles.join(', ')}`);
      }
      if (status !== undefined && !(nodeStatuses as readonly string[]).includes(status)) {
        throw usageError(`--status ${JSON.stringify(status)}: one of ${nodeStatuses.join(', ')}`);
      }
      return {
        global,
        command: {
          kind: 'nodes',
          ...(role === undefined ? {} : { role: role as NodeRole }),
          ...(status === undefined ? {} : { status: status as NodeStatus }),
        },
      };
    }
    case 'drain': {
      const id = one(positionals, 'node id', NODE_ID, 'node ids are letters, digits, . _ : -');
      const timeout = str('timeout');
      if (timeout !== undefined && !flag('wait')) throw usageError('--timeout goes with --wait');
      return {
        global,
        command: {
          kind: 'drain',
          id,
          wait: flag('wait'),
          timeoutMs: timeout === undefined ? DEFAULT_DRAIN_TIMEOUT_MS : parseDuration(timeout),
        },
      };
    }
    case 'resume':
      return {
        global,
        command: {
          kind: 'resume',
          id: one(positionals, 'node id', NODE_ID, 'node ids are letters, digits, . _ : -'),
        },
      };
  }
}
