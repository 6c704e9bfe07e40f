import { readFile as fsReadFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Topology } from '@switchboard/runtime';
import {
  helpText,
  parseInvocation,
  type CliEnv,
  type Command,
  type GlobalOptions,
} from './args.js';
import { ControllerClient, type Fetch } from './client.js';
import { CliError, CliErrorCode, ExitCode, usageError } from './errors.js';
import {
  activeWork,
  age,
  duration,
  formatNode,
  formatNodes,
  formatPlan,
  formatPlanList,
  formatStatus,
  hasErrors,
  loadText,
  nodeCounts,
  progressText,
  resultText,
  table,
  type NodeDetail,
  type Plan,
  type StatusReply,
} from './format.js';
import { createProgress, type OutputStream } from './progress.js';

/** Everything the CLI touches, passed in: the executable gives the real ones, tests fakes. */
export interface CliIo {
  readonly fetch: Fetch;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: CliEnv;
  /** Standard input, for `plan --stdin`. */
  readonly stdin?: AsyncIterable<string | Uint8Array>;
  readonly readFile?: (path: string) => Promise<string>;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** How often `drain --wait` and `plan apply --watch` poll; default 1 s. */
  readonly pollIntervalMs?: number;
  /** How long `--watch` rides out an unreachable or busy controller; default 30 s. */
  readonly watchRetryMs?: number;
}

interface Context {
  readonly io: CliIo;
  readonly global: GlobalOptions;
  readonly client: ControllerClient;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly pollMs: number;
  out(text: string): void;
  json(value: unknown): void;
}

/**
 * Runs one `switchboard` command line and answers its exit code: 0 ok, 1 failure, 2 usage
 * error, a request the controller found invalid, or a plan with errors. Output goes to
 * `io.stdout`, errors to `io.stderr` (as JSON with `--json`); the admin token is never written.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  let token: string | undefined;
  try {
    const { global, command } = parseInvocation(argv, io.env);
    token = global.token;
    if (command.kind === 'help') {
      io.stdout.write(`${helpText(command.topic)}\n`);
      return ExitCode.Ok;
    }
    const client = new ControllerClient({
      fetch: io.fetch,
      url: global.url,
      token: global.token,
      tokenSource: global.tokenSource,
    });
    const context: Context = {
      io,
      global,
      client,
      now: io.now ?? Date.now,
      sleep: io.sleep ?? ((ms) => delay(ms)),
      pollMs: io.pollIntervalMs ?? 1000,
      out: (text) => io.stdout.write(`${text}\n`),
      json: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    };
    return await execute(command, context);
  } catch (error) {
    const failure =
      error instanceof CliError
        ? error
        : new CliError(
            CliErrorCode.Server,
            `unexpected failure: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
    // Belt and braces: nothing the CLI composes contains the token, but a server could echo it.
    const message = redact(failure.message, token ?? io.env.SWB_ADMIN_TOKEN);
    if (wantsJson) {
      const body = {
        error: {
          code: failure.code,
          message,
          ...(failure.statusCode === undefined ? {} : { statusCode: failure.statusCode }),
        },
      };
      io.stderr.write(`${JSON.stringify(body)}\n`);
    } else {
      io.stderr.write(`switchboard: ${message}\n`);
    }
    return failure.exitCode;
  }
}

function redact(text: string, secret: string | undefined): string {
  return secret === undefined || secret === '' ? text : text.split(secret).join('***');
}

async function execute(command: Exclude<Command, { kind: 'help' }>, ctx: Context): Promise<number> {
  switch (command.kind) {
    case 'status':
      return status(ctx);
    case 'nodes':
      return nodes(ctx, command);
    case 'drain':
      return drain(ctx, command);
    case 'resume':
      return resume(ctx, command.id);
    case 'plan':
      return plan(ctx, command.source);
    case 'plan-apply':
      return applyPlan(ctx, command.id, command.watch);
    case 'plan-show':
      return showPlan(ctx, command.id);
    case 'plan-list':
      return listPlans(ctx);
    case 'accounts-add':
      return addAccount(ctx, command);
    case 'accounts-set':
      return setAccount(ctx, command);
    case 'accounts-list':
      return listAccounts(ctx, command.domain);
  }
}

interface AccountSummary {
  readonly username: string;
  readonly domain: string;
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

const accountPath = (username: string, domain: string): string =>
  `/v1/sip/accounts/${encodeURIComponent(domain)}/${encodeURIComponent(username)}`;

/** The first line of standard input, or `SWB_SIP_PASSWORD`: never an argument. */
async function readPassword(ctx: Context): Promise<string> {
  const fromEnv = ctx.io.env.SWB_SIP_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const stdin = ctx.io.stdin;
  if (stdin === undefined) {
    throw usageError('accounts add: give the password on standard input or in SWB_SIP_PASSWORD');
  }
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.includes('\n')) break;
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (password === '') throw usageError('accounts add: the password on standard input is empty');
  return password;
}

async function addAccount(
  ctx: Context,
  command: Extract<Command, { kind: 'accounts-add' }>,
): Promise<number> {
  const password = await readPassword(ctx);
  const result = await ctx.client.post<{ created: boolean }>('/v1/sip/accounts', {
    username: command.username,
    domain: command.domain,
    password,
    enabled: !command.disabled,
  });
  const name = `${command.username}@${command.domain}`;
  if (ctx.global.json) ctx.json({ account: name, ...result });
  else ctx.out(result.created ? `created ${name}` : `set a new password for ${name}`);
  return ExitCode.Ok;
}

async function setAccount(
  ctx: Context,
  command: Extract<Command, { kind: 'accounts-set' }>,
): Promise<number> {
  const name = `${command.username}@${command.domain}`;
  const path = accountPath(command.username, command.domain);
  const context = { resource: `SIP account ${JSON.stringify(name)}` };
  if (command.action === 'remove') await ctx.client.request('DELETE', path, undefined, context);
  else await ctx.client.post(`${path}/${command.action}`, undefined, context);
  const done = { enable: 'enabled', disable: 'disabled', remove: 'removed' }[command.action];
  if (ctx.global.json) ctx.json({ account: name, [done]: true });
  else ctx.out(`${done} ${name}`);
  return ExitCode.Ok;
}

async function listAccounts(ctx: Context, domain: string | undefined): Promise<number> {
  const query = domain === undefined ? '' : `?domain=${encodeURIComponent(domain)}`;
  const reply = await ctx.client.get<{ accounts: AccountSummary[] }>(`/v1/sip/accounts${query}`);
  if (ctx.global.json) {
    ctx.json(reply);
    return ExitCode.Ok;
  }
  if (reply.accounts.length === 0) {
    ctx.out('no SIP account');
    return ExitCode.Ok;
  }
  ctx.out(
    table([
      ['ACCOUNT', 'STATE', 'UPDATED'],
      ...reply.accounts.map((a) => [
        `${a.username}@${a.domain}`,
        a.enabled ? 'enabled' : 'disabled',
        age(a.updatedAt, ctx.now()),
      ]),
    ]),
  );
  return ExitCode.Ok;
}

const nodePath = (id: string): string => `/v1/nodes/${encodeURIComponent(id)}`;
const planPath = (id: string): string => `/v1/plans/${encodeURIComponent(id)}`;

async function status(ctx: Context): Promise<number> {
  const [reply, topology] = await Promise.all([
    ctx.client.get<StatusReply>('/v1/status'),
    // A 204 (empty) before the first leader round.
    ctx.client.get<Topology | undefined>('/v1/topology'),
  ]);
  if (ctx.global.json) {
    ctx.json({
      ...reply,
      topology: topology ?? null,
      nodeCounts: nodeCounts(topology?.nodes ?? []),
    });
  } else {
    ctx.out(formatStatus(reply, topology, ctx.now()));
  }
  return ExitCode.Ok;
}

async function nodes(ctx: Context, filter: Extract<Command, { kind: 'nodes' }>): Promise<number> {
  const query = new URLSearchParams();
  if (filter.role !== undefined) query.set('role', filter.role);
  if (filter.status !== undefined) query.set('status', filter.status);
  const qs = query.size === 0 ? '' : `?${query.toString()}`;
  const reply = await ctx.client.get<{ nodes: NodeDetail[] }>(`/v1/nodes${qs}`);
  if (ctx.global.json) ctx.json(reply);
  else ctx.out(formatNodes(reply.nodes, ctx.now()));
  return ExitCode.Ok;
}

async function resume(ctx: Context, id: string): Promise<number> {
  const node = await ctx.client.post<NodeDetail>(`${nodePath(id)}/resume`, undefined, {
    resource: `node ${JSON.stringify(id)}`,
  });
  if (ctx.global.json) ctx.json(node);
  else ctx.out(formatNode(node));
  return ExitCode.Ok;
}

/**
 * Drains a node; with `--wait`, polls it until its load shows no active jobs or calls (or it is
 * down, so it runs nothing), or until the timeout — which fails, but leaves the node drained.
 */
async function drain(ctx: Context, command: Extract<Command, { kind: 'drain' }>): Promise<number> {
  const resource = { resource: `node ${JSON.stringify(command.id)}` };
  const drained = await ctx.client.post<NodeDetail>(
    `${nodePath(command.id)}/drain`,
    undefined,
    resource,
  );
  if (!command.wait) {
    if (ctx.global.json) ctx.json(drained);
    else ctx.out(formatNode(drained));
    return ExitCode.Ok;
  }
  if (!ctx.global.json) ctx.out(formatNode(drained));
  const started = ctx.now();
  const progress = ctx.global.json
    ? undefined
    : createProgress(ctx.io.stdout, `waiting for ${command.id} to finish its work`, 'done');
  let most = 0;
  try {
    for (;;) {
      const node = await ctx.client.get<NodeDetail>(nodePath(command.id), resource);
      const active = activeWork(node.load);
      most = Math.max(most, active);
      const waited = ctx.now() - started;
      // Nothing was ever active: no bar of 0/0, just the outcome below.
      if (most > 0) {
        progress?.update(
          most - active,
          most,
          `${loadText(node.load)} active, ${duration(waited)} of ${duration(command.timeoutMs)}`,
        );
      }
      if (active === 0 || node.status === 'down') {
        progress?.stop();
        if (ctx.global.json) {
          ctx.json({ ...node, idle: true });
        } else {
          ctx.out(
            node.status === 'down'
              ? `node ${command.id} is down: it runs nothing`
              : `node ${command.id} is drained and idle after ${duration(waited)}`,
          );
        }
        return ExitCode.Ok;
      }
      if (waited >= command.timeoutMs) {
        throw new CliError(
          CliErrorCode.Timeout,
          `node ${command.id} still has ${loadText(node.load)} active after ${duration(waited)}; it stays drained (run switchboard drain ${command.id} --wait again, or resume it)`,
        );
      }
      await ctx.sleep(Math.min(ctx.pollMs, command.timeoutMs - waited));
    }
  } finally {
    progress?.stop();
  }
}

async function readProposal(
  ctx: Context,
  source: Extract<Command, { kind: 'plan' }>['source'],
): Promise<unknown> {
  let text: string;
  let name: string;
  if ('file' in source) {
    name = source.file;
    try {
      text = await (ctx.io.readFile ?? ((path) => fsReadFile(path, 'utf8')))(source.file);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw usageError(
        `cannot read ${source.file}: ${typeof code === 'string' ? code : String(error)}`,
      );
    }
  } else {
    name = 'standard input';
    if (ctx.io.stdin === undefined) throw usageError('--stdin: no standard input here');
    const decoder = new TextDecoder();
    text = '';
    for await (const chunk of ctx.io.stdin) {
      text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    }
    text += decoder.decode();
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw usageError(
      `${name} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

async function plan(
  ctx: Context,
  source: Extract<Command, { kind: 'plan' }>['source'],
): Promise<number> {
  const proposal = await readProposal(ctx, source);
  const created = await ctx.client.post<Plan>('/v1/plans', proposal);
  const failed = hasErrors(created);
  if (ctx.global.json) {
    ctx.json(created);
  } else {
    ctx.out(formatPlan(created));
    if (failed) ctx.out('\nthe plan has errors: fix the proposal and plan again');
    else if (created.kv !== undefined && created.kv.moves.length > 0) {
      ctx.out(`\napply it with: switchboard plan apply ${created.id} --watch`);
    }
  }
  return failed ? ExitCode.Usage : ExitCode.Ok;
}

async function showPlan(ctx: Context, id: string): Promise<number> {
  const record = await ctx.client.get<Plan>(planPath(id), { resource: `plan ${id}` });
  if (ctx.global.json) ctx.json(record);
  else ctx.out(formatPlan(record));
  return ExitCode.Ok;
}

async function listPlans(ctx: Context): Promise<number> {
  const reply = await ctx.client.get<{ plans: Plan[] }>('/v1/plans');
  if (ctx.global.json) ctx.json(reply);
  else ctx.out(formatPlanList(reply.plans));
  return ExitCode.Ok;
}

/**
 * Asks the leader to apply a plan; with `--watch`, follows its progress until it is applied or
 * failed, riding out a controller that is briefly away (a leader failover resumes the plan).
 */
async function applyPlan(ctx: Context, id: string, watch: boolean): Promise<number> {
  const resource = { resource: `plan ${id}` };
  const accepted = await ctx.client.post<Plan>(`${planPath(id)}/apply`, undefined, resource);
  if (!watch) {
    if (ctx.global.json) ctx.json(accepted);
    else ctx.out(`plan ${id}: ${accepted.state}; follow it with switchboard plan show ${id}`);
    return ExitCode.Ok;
  }
  const progress = ctx.global.json
    ? undefined
    : createProgress(ctx.io.stdout, `plan ${id}`, 'slots');
  const retryMs = ctx.io.watchRetryMs ?? 30_000;
  let failingSince: number | undefined;
  try {
    for (;;) {
      let record: Plan;
      try {
        record = await ctx.client.get<Plan>(planPath(id), resource);
        failingSince = undefined;
      } catch (error) {
        if (!(error instanceof CliError) || !error.retryable) throw error;
        failingSince ??= ctx.now();
        if (ctx.now() - failingSince >= retryMs) throw error;
        await ctx.sleep(ctx.pollMs);
        continue;
      }
      const p = record.progress;
      const total = p === undefined ? 0 : p.slotsTotal || (record.kv?.estimate.slots ?? 0);
      if (p !== undefined && total > 0) {
        progress?.update(p.slotsDone, total, `${p.keysMoved} keys moved (${p.phase})`);
      }
      if (record.state === 'applied') {
        progress?.stop();
        if (ctx.global.json) ctx.json(record);
        else
          ctx.out(record.result === undefined ? `plan ${id}: applied` : resultText(record.result));
        return ExitCode.Ok;
      }
      if (record.state === 'failed') {
        progress?.stop();
        if (ctx.global.json) ctx.json(record);
        throw new CliError(
          CliErrorCode.PlanFailed,
          `plan ${id} failed${p === undefined ? '' : ` at ${progressText(p)}`}: ${record.error ?? 'no reason recorded'}`,
        );
      }
      await ctx.sleep(ctx.pollMs);
    }
  } finally {
    progress?.stop();
  }
}
