import { describe, expect, it } from 'vitest';
import {
  CloseTimeoutError,
  ClosedError,
  closeWithDeadline,
  composeComponents,
  defineComponent,
  type Component,
} from '../src/index.js';

interface Recorded extends Component {
  readonly name: string;
}

function recorder() {
  const events: string[] = [];
  const component = (
    name: string,
    behaviour: { failStart?: boolean; closeNever?: boolean; failClose?: boolean } = {},
  ): Recorded => ({
    name,
    start: () => {
      events.push(`start ${name}`);
      return behaviour.failStart === true
        ? Promise.reject(new Error(`${name} failed`))
        : Promise.resolve();
    },
    close: () => {
      events.push(`close ${name}`);
      if (behaviour.closeNever === true) return new Promise<void>(() => undefined);
      return behaviour.failClose === true
        ? Promise.reject(new Error(`${name} close failed`))
        : Promise.resolve();
    },
    destroy: () => {
      events.push(`destroy ${name}`);
      return Promise.resolve();
    },
  });
  return { events, component };
}

describe('composeComponents', () => {
  it('starts in order and closes in reverse order', async () => {
    const { events, component } = recorder();
    const all = composeComponents([component('a'), component('b'), component('c')]);
    await all.start();
    await all.close();
    expect(events).toEqual(['start a', 'start b', 'start c', 'close c', 'close b', 'close a']);
  });

  it('closes what it started, in reverse, when a later component fails to start', async () => {
    const { events, component } = recorder();
    const all = composeComponents([
      component('a'),
      component('b', { failStart: true }),
      component('c'),
    ]);
    await expect(all.start()).rejects.toThrow('b failed');
    expect(events).toEqual(['start a', 'start b', 'close b', 'close a']);
  });

  it('reports both failures when the rollback after a failed start fails too', async () => {
    const { component } = recorder();
    const all = composeComponents([
      component('a', { failClose: true }),
      component('b', { failStart: true }),
    ]);
    const error: unknown = await all.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual([
      'b failed',
      'a close failed',
    ]);
  });

  it('closes every component even when one fails, then rethrows', async () => {
    const { events, component } = recorder();
    const all = composeComponents([component('a'), component('b', { failClose: true })]);
    await all.start();
    await expect(all.close()).rejects.toThrow('b close failed');
    expect(events.slice(2)).toEqual(['close b', 'close a']);
  });

  it('closes only once however often close is called', async () => {
    const { events, component } = recorder();
    const all = composeComponents([component('a')]);
    await all.start();
    const first = all.close();
    expect(all.close()).toBe(first);
    await first;
    await all.close();
    expect(events.filter((e) => e.startsWith('close'))).toEqual(['close a']);
  });

  it('stops starting the rest when closed during start', async () => {
    const events: string[] = [];
    let release = (): void => undefined;
    const slow: Component = {
      start: () => new Promise<void>((resolve) => (release = resolve)),
      close: () => {
        events.push('close slow');
        return Promise.resolve();
      },
      destroy: () => Promise.resolve(),
    };
    const { component } = recorder();
    const all = composeComponents([slow, component('never')]);
    const starting = all.start();
    const closing = all.close();
    release();
    await expect(starting).rejects.toBeInstanceOf(ClosedError);
    await closing;
    expect(events).toEqual(['close slow']);
  });
});

describe('defineComponent', () => {
  it('refuses to start after close', async () => {
    const component = defineComponent({
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
      destroy: () => Promise.resolve(),
    });
    await component.close();
    await expect(component.start()).rejects.toMatchObject({ code: 'SWB_CLOSED' });
  });

  it('does not close or destroy what never started', async () => {
    const calls: string[] = [];
    const component = defineComponent({
      start: () => Promise.resolve(),
      close: () => {
        calls.push('close');
        return Promise.resolve();
      },
      destroy: () => {
        calls.push('destroy');
        return Promise.resolve();
      },
    });
    await component.close();
    await component.destroy();
    expect(calls).toEqual([]);
  });
});

describe('closeWithDeadline', () => {
  it('resolves when close finishes in time, without destroying', async () => {
    const { events, component } = recorder();
    await closeWithDeadline(component('a'), 1000);
    expect(events).toEqual(['close a']);
  });

  it('destroys and rejects with CloseTimeoutError when close outlasts the deadline', async () => {
    const { events, component } = recorder();
    const error: unknown = await closeWithDeadline(component('a', { closeNever: true }), 20).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CloseTimeoutError);
    expect(error).toMatchObject({ code: 'SWB_CLOSE_TIMEOUT', timeoutMs: 20 });
    expect(events).toEqual(['close a', 'destroy a']);
  });

  it('destroys and rethrows when close fails', async () => {
    const { events, component } = recorder();
    await expect(closeWithDeadline(component('a', { failClose: true }), 1000)).rejects.toThrow(
      'a close failed',
    );
    expect(events).toEqual(['close a', 'destroy a']);
  });
});
