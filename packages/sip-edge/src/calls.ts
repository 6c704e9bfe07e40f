// The calls an edge has in hand, from the routed INVITE to the BYE, CANCEL or final failure: it
// counts them (the drain on SIGTERM waits for the count to reach zero), and it tells the bus when
// a call is answered (`call.started`) and when it ends (`call.ended`, carrying the CDR). A bus
// that cannot take an event is logged and the call carries on: signalling never waits on it.
import type { Clock, Logger } from '@switchboard/runtime';
import type { Cdr, EventPayload } from '@switchboard/queue';

export type CallEventName = 'call.started' | 'call.ended';
export type CallDirection = Cdr['direction'];
export type CallDisposition = Cdr['disposition'];

/** Publishes one event on the bus (`bus.publishEvent` fits). */
export type PublishCallEvent = <N extends CallEventName>(
  name: N,
  payload: EventPayload<N>,
) => Promise<unknown>;

export interface CallTrackerOptions {
  readonly publish: PublishCallEvent;
  /** This edge's node id, the CDR's `edge`. */
  readonly edgeId: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What is known of a call when its INVITE is taken for routing. */
export interface CallInfo {
  readonly callId: string;
  /** Caller URI, e.g. `sip:alice@example.com`. */
  readonly from: string;
  /** Target URI as routed (the Request-URI). */
  readonly to: string;
  readonly direction: CallDirection;
  readonly sourceIp?: string;
  readonly userAgent?: string;
  readonly tenant?: string;
}

/** How a call ended. */
export interface CallOutcome {
  /** The final SIP status of a call that was never answered; 200 is assumed for an answered one. */
  readonly sipStatus?: number;
  /** Defaults from `sipStatus` (see `dispositionFor`) and whether the call was answered. */
  readonly disposition?: CallDisposition;
  /** e.g. `caller-bye`, `callee-bye`, `cancel`, `no-pbx`. */
  readonly hangupCause?: string;
}

export interface TrackedCall {
  readonly callId: string;
  /** The PBX node the call is (now) routed to; the last one set goes in the CDR. */
  routedTo(pbxNode: string | undefined): void;
  /** The 200 OK went to the caller: records the answer time and publishes `call.started`. */
  answered(): void;
  /** The call is over: publishes `call.ended` with the CDR. Only the first call counts. */
  ended(outcome?: CallOutcome): void;
  readonly isAnswered: boolean;
  readonly isEnded: boolean;
}

export interface CallTracker {
  /** Starts tracking a call; it counts as active until `ended`. */
  begin(info: CallInfo): TrackedCall;
  /** The live call with this Call-ID, if any (e.g. a proxied call whose `cdr:stop` arrived). */
  get(callId: string): TrackedCall | undefined;
  /** Calls begun and not yet ended. */
  readonly active: number;
  /**
   * Resolves true once no call is active and every event has been handed to the bus, or false
   * when `deadlineMs` passes first. The drain on SIGTERM calls it after refusing new INVITEs.
   */
  waitIdle(deadlineMs: number): Promise<boolean>;
  /** Waits for the events being published now (they never reject). */
  flush(): Promise<void>;
}

/**
 * The CDR disposition a final SIP status means: 2xx answered; 486/600 busy; 408, 480 and 603
 * no-answer (nobody picked up or the callee declined to); 487 cancelled (the caller gave up);
 * anything else failed.
 */
export function dispositionFor(sipStatus: number): CallDisposition {
  if (sipStatus >= 200 && sipStatus < 300) return 'answered';
  switch (sipStatus) {
    case 486:
    case 600:
      return 'busy';
    case 408:
    case 480:
    case 603:
      return 'no-answer';
    case 487:
      return 'cancelled';
    default:
      return 'failed';
  }
}

/** Header values are the caller's to choose: cut them to what the event schemas accept. */
function fitToSchema(info: CallInfo): CallInfo {
  const cut = (value: string, max: number) => (value.length > 0 ? value.slice(0, max) : 'unknown');
  return {
    callId: cut(info.callId, 255),
    from: cut(info.from, 512),
    to: cut(info.to, 512),
    direction: info.direction,
    ...(info.sourceIp === undefined ? {} : { sourceIp: info.sourceIp.slice(0, 64) }),
    ...(info.userAgent === undefined ? {} : { userAgent: info.userAgent.slice(0, 512) }),
    ...(info.tenant === undefined || info.tenant === '' ? {} : { tenant: cut(info.tenant, 128) }),
  };
}

export function createCallTracker(options: CallTrackerOptions): CallTracker {
  const { publish, edgeId, clock } = options;
  const logger = options.logger.child({ component: 'calls' });
  const live = new Set<TrackedCall>();
  const byCallId = new Map<string, TrackedCall>();
  const publishing = new Set<Promise<void>>();
  let idleWaiters: (() => void)[] = [];

  const iso = (ms: number) => new Date(ms).toISOString();

  function isIdle(): boolean {
    return live.size === 0 && publishing.size === 0;
  }

  function checkIdle(): void {
    if (!isIdle() || idleWaiters.length === 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  }

  function send<N extends CallEventName>(name: N, payload: EventPayload<N>, callId: string): void {
    let pending: Promise<void>;
    try {
      pending = publish(name, payload).then(
        () => undefined,
        (err: unknown) => {
          logger.error({ err, callId, event: name }, 'could not publish a call event');
        },
      );
    } catch (err) {
      logger.error({ err, callId, event: name }, 'could not publish a call event');
      return;
    }
    const tracked = pending.finally(() => {
      publishing.delete(tracked);
      checkIdle();
    });
    publishing.add(tracked);
  }

  function begin(given: CallInfo): TrackedCall {
    const start = clock.now();
    const info = fitToSchema(given);
    const callLogger = logger.child({ callId: info.callId });
    let pbxNode: string | undefined;
    let answer: number | undefined;
    let end: number | undefined;

    const optional = {
      ...(info.tenant === undefined ? {} : { tenant: info.tenant }),
    };

    const call: TrackedCall = {
      callId: info.callId,
      get isAnswered() {
        return answer !== undefined;
      },
      get isEnded() {
        return end !== undefined;
      },
      routedTo(node) {
        pbxNode = node;
      },
      answered() {
        if (answer !== undefined || end !== undefined) return;
        answer = clock.now();
        send(
          'call.started',
          {
            callId: info.callId,
            from: info.from,
            to: info.to,
            direction: info.direction,
            start: iso(start),
            ...(pbxNode === undefined ? {} : { pbxNode }),
            edge: edgeId,
            ...optional,
          },
          info.callId,
        );
      },
      ended(outcome = {}) {
        if (end !== undefined) return;
        end = Math.max(clock.now(), start);
        live.delete(call);
        if (byCallId.get(info.callId) === call) byCallId.delete(info.callId);
        const sipStatus = outcome.sipStatus ?? (answer === undefined ? undefined : 200);
        const disposition =
          outcome.disposition ??
          (answer !== undefined
            ? 'answered'
            : sipStatus === undefined
              ? 'failed'
              : dispositionFor(sipStatus));
        const cdr: Cdr = {
          callId: info.callId,
          from: info.from,
          to: info.to,
          direction: info.direction,
          disposition,
          start: iso(start),
          ...(answer === undefined ? {} : { answer: iso(answer) }),
          end: iso(end),
          durationSeconds: (end - start) / 1000,
          ...(answer === undefined ? {} : { billableSeconds: Math.max(0, end - answer) / 1000 }),
          ...(pbxNode === undefined ? {} : { pbxNode }),
          edge: edgeId,
          ...optional,
          ...(sipStatus === undefined ? {} : { sipStatus }),
          ...(outcome.hangupCause === undefined ? {} : { hangupCause: outcome.hangupCause }),
          ...(info.sourceIp === undefined ? {} : { sourceIp: info.sourceIp }),
          ...(info.userAgent === undefined ? {} : { userAgent: info.userAgent }),
        };
        callLogger.info(
          { disposition, sipStatus, pbxNode, durationSeconds: cdr.durationSeconds },
          'call ended',
        );
        send('call.ended', { cdr }, info.callId);
        checkIdle();
      },
    };

    if (byCallId.has(info.callId)) {
      // A Call-ID reused while its call is live (a forked or retried INVITE): the newer one wins
      // the lookup, the older one still ends on its own.
      callLogger.warn('a call with this Call-ID is already live');
    }
    live.add(call);
    byCallId.set(info.callId, call);
    return call;
  }

  return {
    begin,
    get(callId) {
      return byCallId.get(callId);
    },
    get active() {
      return live.size;
    },
    waitIdle(deadlineMs) {
      if (isIdle()) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          idleWaiters = idleWaiters.filter((waiter) => waiter !== wake);
          logger.warn({ active: live.size }, 'calls still live at the drain deadline');
          resolve(false);
        }, deadlineMs);
        idleWaiters.push(wake);
      });
    },
    async flush() {
      while (publishing.size > 0) await Promise.all(publishing);
    },
  };
}
