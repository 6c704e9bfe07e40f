import type { EventPayload } from '@switchboard/queue';
import { describe, expect, it } from 'vitest';
import type { AuthenticatedUser, Binding, FloodVerdict, PbxNode } from '../src/contracts.js';
import {
  createCallTracker,
  createInviteHandler,
  createPbxPool,
  createRoutePolicy,
  parseTarget,
  type CallEventName,
  type PublishCallEvent,
  type RoutePolicy,
} from '../src/index.js';
import {
  alice,
  binding,
  captureLogger,
  fakeAuthenticator,
  fakeBindings,
  fakeFlood,
  fakeSrf,
  inviteRequest,
  manualClock,
  recordingResponse,
  type B2buaScript,
  type InviteOptions,
} from './invite-fixtures.js';

const pbxNodes: PbxNode[] = [
  { id: 'pbx-1', address: '10.0.0.1:5060' },
  { id: 'pbx-2', address: '10.0.0.2:5060' },
  { id: 'pbx-3', address: '10.0.0.3:5060' },
];

interface SetupOptions {
  readonly bindings?: Record<string, Binding[]>;
  readonly accounts?: string[];
  readonly pbx?: PbxNode[];
  readonly script?: Record<string, B2buaScript>;
  readonly policy?: RoutePolicy;
  readonly user?: AuthenticatedUser | undefined;
  readonly flood?: FloodVerdict;
  readonly draining?: boolean;
  readonly publish?: PublishCallEvent;
  readonly pbxAttemptTimeoutMs?: number;
}

function setup(options: SetupOptions = {}) {
  const srf = fakeSrf();
  for (const [host, step] of Object.entries(options.script ?? {})) srf.script.set(host, step);
  const { logger, lines } = captureLogger();
  const clock = manualClock();
  const published: { name: CallEventName; payload: unknown }[] = [];
  const calls = createCallTracker({
    publish:
      options.publish ??
      ((name, payload) => {
        published.push({ name, payload });
        return Promise.resolve();
      }),
    edgeId: 'edge-1',
    clock,
    logger,
  });
  const pbx = createPbxPool({ logger, probe: () => Promise.resolve(true) });
  pbx.setNodes(options.pbx ?? pbxNodes);
  const accounts = new Set(options.accounts ?? ['alice@example.com', 'bob@example.com']);
  let draining = options.draining ?? false;
  const handler = createInviteHandler({
    srf,
    authenticator: fakeAuthenticator('user' in options ? options.user : alice),
    flood: fakeFlood(options.flood),
    bindings: fakeBindings(options.bindings),
    userExists: (username, domain) => Promise.resolve(accounts.has(`${username}@${domain}`)),
    pbx,
    calls,
    localDomains: ['example.com', '192.0.2.1'],
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    draining: () => draining,
    retryAfterSeconds: 120,
    ...(options.pbxAttemptTimeoutMs === undefined
      ? {}
      : { pbxAttemptTimeoutMs: options.pbxAttemptTimeoutMs }),
    edgeId: 'edge-1',
    logger,
  });

  async function invite(inviteOptions: InviteOptions = {}) {
    const req = inviteRequest(inviteOptions);
    const recorder = recordingResponse(req);
    await handler.handle(req, recorder.res);
    await calls.flush();
    return { req, ...recorder };
  }

  function cdr() {
    const ended = published.filter((event) => event.name === 'call.ended');
    expect(ended).toHaveLength(1);
    return (ended[0]?.payload as EventPayload<'call.ended'>).cdr;
  }

  return {
    srf,
    handler,
    calls,
    pbx,
    clock,
    lines,
    published,
    invite,
    cdr,
    setDraining(value: boolean) {
      draining = value;
    },
  };
}

describe('INVITE to a registered local user', () => {
  it('forks to every contact at once, record-routed', async () => {
    const t = setup({
      bindings: {
        'sip:bob@example.com': [
          binding('sip:bob@192.0.2.20:5062;transport=udp'),
          binding('<sip:bob@192.0.2.21:5060>', 0.5),
        ],
      },
    });
    const { final } = await t.invite({ uri: 'sip:bob@example.com' });
    expect(t.srf.proxyCalls).toEqual([
      {
        destinations: ['sip:bob@192.0.2.20:5062;transport=udp', 'sip:bob@192.0.2.21:5060'],
        options: { forking: 'simultaneous', recordRoute: true, followRedirects: false },
      },
    ]);
    expect(t.srf.b2buaCalls).toEqual([]);
    // The proxy answers the caller (drachtio-server relays the callee's responses), not the app.
    expect(final()).toBeUndefined();
  });

  it('tracks an answered proxied call until drachtio reports its end', async () => {
    const t = setup({ bindings: { 'sip:bob@example.com': [binding('sip:bob@192.0.2.20')] } });
    const { req } = await t.invite({ uri: 'sip:bob@example.com', callId: 'proxied-1' });
    expect(req.get('Call-ID')).toBe('proxied-1');
    expect(t.calls.active).toBe(1);
    expect(t.published.map((event) => event.name)).toEqual(['call.started']);

    t.clock.advance(30_000);
    expect(t.handler.proxiedCallEnded('proxied-1', 'normal-release')).toBe(true);
    await t.calls.flush();
    expect(t.calls.active).toBe(0);
    expect(t.cdr()).toMatchObject({
      callId: 'proxied-1',
      from: 'sip:alice@example.com',
      to: 'sip:bob@example.com',
      direction: 'internal',
      disposition: 'answered',
      durationSeconds: 30,
      hangupCause: 'normal-release',
    });
    expect(t.handler.proxiedCallEnded('proxied-1')).toBe(false);
  });

  it('ends a proxied call that no contact answered with the proxy final status', async () => {
    const t = setup({ bindings: { 'sip:bob@example.com': [binding('sip:bob@192.0.2.20')] } });
    t.srf.proxyOutcome = { connected: false, finalStatus: 486 };
    await t.invite({ uri: 'sip:bob@example.com' });
    expect(t.calls.active).toBe(0);
    expect(t.cdr()).toMatchObject({ disposition: 'busy', sipStatus: 486 });
  });

  it('answers 500 when drachtio refuses to proxy', async () => {
    const t = setup({ bindings: { 'sip:bob@example.com': [binding('sip:bob@192.0.2.20')] } });
    t.srf.proxyOutcome = new Error('drachtio: invalid destination');
    const { final } = await t.invite({ uri: 'sip:bob@example.com' });
    expect(final()?.status).toBe(500);
    expect(t.calls.active).toBe(0);
  });
});

describe('INVITE to a local user without contacts', () => {
  it('answers 480 for an account that is not registered, with a CDR', async () => {
    const t = setup();
    const { final } = await t.invite({ uri: 'sip:bob@example.com' });
    expect(final()?.status).toBe(480);
    expect(t.srf.proxyCalls).toEqual([]);
    expect(t.cdr()).toMatchObject({
      disposition: 'no-answer',
      sipStatus: 480,
      direction: 'internal',
    });
  });

  it('answers 404 for an unknown local user, and routes nowhere', async () => {
    const t = setup();
    const { final } = await t.invite({ uri: 'sip:nobody@EXAMPLE.com' });
    expect(final()?.status).toBe(404);
    expect(t.srf.proxyCalls).toEqual([]);
    expect(t.srf.b2buaCalls).toEqual([]);
    expect(t.published).toEqual([]);
  });

  it('sends a number in a local domain that is no account to a PBX', async () => {
    const t = setup();
    await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(t.srf.b2buaCalls).toHaveLength(1);
    expect(t.srf.b2buaCalls[0]?.uri).toMatch(/^sip:\+15551234@10\.0\.0\.\d:5060$/);
  });
});

describe('INVITE through a PBX', () => {
  it('bridges to the least loaded PBX and publishes the CDR when the caller hangs up', async () => {
    const t = setup();
    t.pbx.callStarted('pbx-1');
    t.pbx.callStarted('pbx-3');
    const { final } = await t.invite({
      uri: 'sip:+4420790000@carrier.example.net',
      callId: 'pstn-1',
    });

    expect(final()?.status).toBe(200);
    expect(t.srf.b2buaCalls.map((call) => call.uri)).toEqual(['sip:+4420790000@10.0.0.2:5060']);
    const b2bua = t.srf.b2buaCalls[0];
    expect(b2bua?.options).toMatchObject({
      passFailure: false,
      headers: { 'P-Asserted-Identity': '<sip:alice@example.com>' },
    });
    expect(t.pbx.activeCalls('pbx-2')).toBe(1);
    expect(t.calls.active).toBe(1);
    expect(t.published.map((event) => event.name)).toEqual(['call.started']);

    t.clock.advance(95_000);
    b2bua?.uas?.hangUp();
    await t.calls.flush();
    expect(b2bua?.uac?.destroyed).toBe(true);
    expect(t.pbx.activeCalls('pbx-2')).toBe(0);
    expect(t.calls.active).toBe(0);
    expect(t.cdr()).toEqual({
      callId: 'pstn-1',
      from: 'sip:alice@example.com',
      to: 'sip:+4420790000@carrier.example.net',
      direction: 'outbound',
      disposition: 'answered',
      start: '2025-01-01T12:00:00.000Z',
      answer: '2025-01-01T12:00:00.000Z',
      end: '2025-01-01T12:01:35.000Z',
      durationSeconds: 95,
      billableSeconds: 95,
      pbxNode: 'pbx-2',
      edge: 'edge-1',
      sipStatus: 200,
      hangupCause: 'caller-bye',
      sourceIp: '192.0.2.10',
      userAgent: 'TestPhone/1.0',
    });
  });

  it('hangs up the caller when the PBX side ends the call', async () => {
    const t = setup({ pbx: [pbxNodes[0] as PbxNode] });
    await t.invite({ uri: 'sip:600@example.com' });
    const b2bua = t.srf.b2buaCalls[0];
    b2bua?.uac?.hangUp();
    await t.calls.flush();
    expect(b2bua?.uas?.destroyed).toBe(true);
    expect(t.cdr()).toMatchObject({ hangupCause: 'callee-bye', pbxNode: 'pbx-1' });
  });

  it('fails over on 503 and on 408, and connects on the third PBX', async () => {
    const t = setup({
      script: {
        '10.0.0.1:5060': { kind: 'fail', status: 503 },
        '10.0.0.2:5060': { kind: 'fail', status: 408 },
      },
    });
    const { final, sent } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(t.srf.b2buaCalls.map((call) => call.uri)).toEqual([
      'sip:+15551234@10.0.0.1:5060',
      'sip:+15551234@10.0.0.2:5060',
      'sip:+15551234@10.0.0.3:5060',
    ]);
    expect(sent.filter((response) => response.status >= 200)).toHaveLength(1);
    expect(final()?.status).toBe(200);
    expect(t.pbx.activeCalls('pbx-1')).toBe(0);
    expect(t.pbx.activeCalls('pbx-2')).toBe(0);
    expect(t.pbx.activeCalls('pbx-3')).toBe(1);
  });

  it('fails over on an error without a SIP status', async () => {
    const t = setup({
      pbx: pbxNodes.slice(0, 2),
      script: { '10.0.0.1:5060': { kind: 'error', error: new Error('drachtio link lost') } },
    });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(t.srf.b2buaCalls).toHaveLength(2);
    expect(final()?.status).toBe(200);
  });

  it('gives up on a silent PBX after the attempt timeout, cancels it and tries the next', async () => {
    const t = setup({
      pbx: pbxNodes.slice(0, 2),
      pbxAttemptTimeoutMs: 20,
      script: { '10.0.0.1:5060': { kind: 'silent' } },
    });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(t.srf.b2buaCalls.map((call) => call.uri)).toEqual([
      'sip:+15551234@10.0.0.1:5060',
      'sip:+15551234@10.0.0.2:5060',
    ]);
    expect(t.srf.b2buaCalls[0]?.cancelled()).toBe(true);
    expect(final()?.status).toBe(200);
  });

  it('keeps a PBX that answers after being given up from reaching the caller', async () => {
    const t = setup({
      pbx: pbxNodes.slice(0, 2),
      pbxAttemptTimeoutMs: 20,
      script: {
        '10.0.0.1:5060': { kind: 'answer', afterMs: 40 },
        '10.0.0.2:5060': { kind: 'fail', status: 486 },
      },
    });
    const { sent } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(sent.map((response) => response.status)).toEqual([486]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent.map((response) => response.status)).toEqual([486]);
    expect(t.srf.b2buaCalls[0]?.uac?.destroyed).toBe(true);
    expect(t.calls.active).toBe(0);
  });

  it('answers 503 with a failed CDR when every PBX fails', async () => {
    const t = setup({
      script: {
        '10.0.0.1:5060': { kind: 'fail', status: 500 },
        '10.0.0.2:5060': { kind: 'fail', status: 503 },
        '10.0.0.3:5060': { kind: 'fail', status: 408 },
      },
    });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(t.srf.b2buaCalls).toHaveLength(3);
    expect(final()).toMatchObject({ status: 503, headers: { 'Retry-After': '120' } });
    expect(t.calls.active).toBe(0);
    for (const node of pbxNodes) expect(t.pbx.activeCalls(node.id)).toBe(0);
    const cdr = t.cdr();
    expect(cdr).toMatchObject({ disposition: 'failed', sipStatus: 503, direction: 'outbound' });
    expect(cdr.pbxNode).toBe('pbx-3');
    expect(cdr.answer).toBeUndefined();
    expect(cdr.hangupCause).toContain('sip-408');
  });

  it('passes a 486 from the PBX back to the caller without failing over', async () => {
    const t = setup({
      script: {
        '10.0.0.1:5060': { kind: 'fail', status: 486, reason: 'Busy Here' },
        '10.0.0.2:5060': { kind: 'fail', status: 486, reason: 'Busy Here' },
        '10.0.0.3:5060': { kind: 'fail', status: 486, reason: 'Busy Here' },
      },
    });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(t.srf.b2buaCalls).toHaveLength(1);
    expect(final()).toMatchObject({ status: 486, reason: 'Busy Here' });
    expect(t.cdr()).toMatchObject({ disposition: 'busy', sipStatus: 486 });
  });

  it('answers 503 when no PBX is healthy', async () => {
    const t = setup({ pbx: [] });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(final()?.status).toBe(503);
    expect(t.cdr()).toMatchObject({ disposition: 'failed', hangupCause: 'no-pbx' });
  });

  it('routes to a PBX that joined the topology at once', async () => {
    const t = setup({ pbx: [] });
    t.pbx.setNodes([{ id: 'pbx-new', address: '10.0.0.9:5080' }]);
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(final()?.status).toBe(200);
    expect(t.srf.b2buaCalls[0]?.uri).toBe('sip:+15551234@10.0.0.9:5080');
  });

  it('keeps answering calls when the bus cannot take their events', async () => {
    const t = setup({ publish: () => Promise.reject(new Error('bus down')) });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(final()?.status).toBe(200);
    t.srf.b2buaCalls[0]?.uas?.hangUp();
    await t.calls.flush();
    expect(t.calls.active).toBe(0);
    expect(t.lines.filter((line) => line.msg === 'could not publish a call event')).toHaveLength(2);
  });
});

describe('INVITE admission', () => {
  it('answers 403 for a route the caller may not use', async () => {
    const policy = createRoutePolicy({
      localDomains: ['example.com'],
      pbxPrefixes: { 'example.com': ['+1', '9'] },
    });
    const t = setup({ policy });
    const { final } = await t.invite({ uri: 'sip:+4420790000@carrier.example.net' });
    expect(final()?.status).toBe(403);
    expect(t.srf.b2buaCalls).toEqual([]);

    const allowed = await t.invite({ uri: 'sip:+15551234@carrier.example.net' });
    expect(allowed.final()?.status).toBe(200);
  });

  it('answers 503 with Retry-After while draining, before authenticating', async () => {
    const t = setup({ draining: true, user: undefined });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(final()).toMatchObject({ status: 503, headers: { 'Retry-After': '120' } });
    expect(t.srf.b2buaCalls).toEqual([]);
    expect(t.calls.active).toBe(0);
  });

  it('lets the authenticator answer an INVITE without credentials', async () => {
    const t = setup({ user: undefined });
    const { final } = await t.invite({ uri: 'sip:+15551234@example.com' });
    expect(final()?.status).toBe(401);
    expect(t.srf.b2buaCalls).toEqual([]);
  });

  it('answers 403 to a banned source and 503 to a rate-limited one', async () => {
    expect((await setup({ flood: 'banned' }).invite()).final()?.status).toBe(403);
    const limited = await setup({ flood: 'limited' }).invite();
    expect(limited.final()).toMatchObject({ status: 503, headers: { 'Retry-After': '120' } });
  });

  it('answers 481 to an INVITE that carries a To tag (a dialog it does not know)', async () => {
    const t = setup();
    const { final } = await t.invite({ to: '<sip:bob@example.com>;tag=xyz' });
    expect(final()?.status).toBe(481);
  });

  it('answers 416 for a Request-URI scheme it cannot route', async () => {
    const t = setup();
    const { final } = await t.invite({ uri: 'mailto:bob@example.com' });
    expect(final()?.status).toBe(416);
  });

  it('answers 500 and logs when something unexpected fails, without throwing', async () => {
    const t = setup();
    const req = inviteRequest({ uri: 'sip:+15551234@example.com' });
    const recorder = recordingResponse(req);
    const broken = createInviteHandler({
      srf: t.srf,
      authenticator: fakeAuthenticator(),
      flood: fakeFlood(),
      bindings: { contacts: () => Promise.reject(new Error('kv down')) },
      userExists: () => Promise.resolve(true),
      pbx: t.pbx,
      calls: t.calls,
      localDomains: ['example.com'],
      draining: () => false,
      edgeId: 'edge-1',
      logger: captureLogger().logger,
    });
    await expect(broken.handle(req, recorder.res)).resolves.toBeUndefined();
    expect(recorder.final()?.status).toBe(500);
  });
});

describe('parseTarget and the default route policy', () => {
  it('takes sip, sips and tel URIs apart', () => {
    expect(parseTarget('sip:%2B1555@Example.COM:5060;user=phone')).toEqual({
      scheme: 'sip',
      rawUser: '%2B1555',
      user: '+1555',
      host: 'example.com',
    });
    expect(parseTarget('<sips:bob@[2001:db8::1]:5061>')).toMatchObject({ host: '[2001:db8::1]' });
    expect(parseTarget('tel:+15551234;phone-context=example.com')).toMatchObject({
      scheme: 'tel',
      user: '+15551234',
    });
    expect(parseTarget('http://example.com')).toBeUndefined();
  });

  it('allows local users to anyone and PBX routes by the caller domain prefixes', () => {
    const policy = createRoutePolicy({
      localDomains: ['example.com'],
      pbxPrefixes: { 'example.com': ['+44'], '*': [] },
    });
    expect(policy.mayRoute(alice, 'sip:bob@example.com')).toBe(true);
    expect(policy.mayRoute(alice, 'sip:+4420790000@example.com')).toBe(true);
    expect(policy.mayRoute(alice, 'sip:+15551234@example.com')).toBe(false);
    const other = { username: 'eve', domain: 'other.example' };
    expect(policy.mayRoute(other, 'sip:+4420790000@example.com')).toBe(false);
    expect(policy.mayRoute(other, 'sip:bob@example.com')).toBe(true);
  });
});
