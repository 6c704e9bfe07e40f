import { describe, expect, it } from 'vitest';
import {
  aorOf,
  contactExpires,
  createBindingStore,
  parseNameAddr,
  parseQ,
  splitHeaderList,
} from '../src/index.js';
import { manualClock, memoryKv } from './sip-fixtures.js';

const aor = 'sip:alice@example.com';
const limits = { minExpires: 60, maxExpires: 3600, defaultExpires: 1800 };

function store() {
  const clock = manualClock();
  return { clock, bindings: createBindingStore({ kv: memoryKv(clock), clock, ...limits }) };
}

const change = (
  callId: string,
  cseq: number,
  contacts: { uri: string; expires: number; q?: number }[],
) => ({
  callId,
  cseq,
  source: '192.0.2.10:5060',
  contacts,
});

describe('header parsing', () => {
  it('splits contacts at commas outside quotes and angle brackets', () => {
    expect(splitHeaderList('"A, B" <sip:a@h;x=1,2>;q=0.5, <sip:b@h>')).toEqual([
      '"A, B" <sip:a@h;x=1,2>;q=0.5',
      '<sip:b@h>',
    ]);
    expect(splitHeaderList('<sip:a@h')).toBeUndefined();
  });

  it('reads name-addrs and addr-specs with their header parameters', () => {
    const a = parseNameAddr('"Desk" <sip:a@h;transport=tcp>;expires=60;q=0.7');
    expect(a?.uri).toBe('sip:a@h;transport=tcp');
    expect(Object.fromEntries(a?.params ?? [])).toEqual({ expires: '60', q: '0.7' });
    const b = parseNameAddr('sip:a@h;expires=0');
    expect(b?.uri).toBe('sip:a@h');
    expect(b?.params.get('expires')).toBe('0');
    expect(parseNameAddr('<sip:a@h>;=')).toBeUndefined();
  });

  it('canonicalises an AOR: host lowercased, port and parameters dropped', () => {
    expect(aorOf('"Alice" <sips:alice@Example.COM:5061;transport=tls>;tag=9')).toEqual({
      aor: 'sip:alice@example.com',
      user: 'alice',
      domain: 'example.com',
    });
    expect(aorOf('<sip:example.com>')).toBeUndefined();
    expect(aorOf('garbage')).toBeUndefined();
  });

  it('resolves expiries: the contact parameter over the header, min, max, default', () => {
    expect(contactExpires('120', '600', limits)).toBe(120);
    expect(contactExpires(undefined, '600', limits)).toBe(600);
    expect(contactExpires(undefined, undefined, limits)).toBe(1800);
    expect(contactExpires('0', '600', limits)).toBe(0);
    expect(contactExpires('30', undefined, limits)).toBe('too-brief');
    expect(contactExpires('99999', undefined, limits)).toBe(3600);
    expect(contactExpires('-1', undefined, limits)).toBe('invalid');
    expect(contactExpires(null, undefined, limits)).toBe('invalid');
  });

  it('reads q-values between 0 and 1 only', () => {
    expect(parseQ('0.5')).toBe(0.5);
    expect(parseQ('1')).toBe(1);
    expect(parseQ(undefined)).toBeUndefined();
    expect(parseQ('1.5')).toBeNaN();
    expect(parseQ('0.1234')).toBeNaN();
  });
});

describe('the binding store', () => {
  it('keeps several contacts of an AOR, highest q first, and forgets them once expired', async () => {
    const { clock, bindings } = store();
    const outcome = await bindings.register(
      aor,
      change('c1', 1, [
        { uri: 'sip:a@192.0.2.1', expires: 60, q: 0.2 },
        { uri: 'sip:a@192.0.2.2', expires: 600, q: 0.8 },
      ]),
    );
    expect(outcome.ok).toBe(true);
    expect((await bindings.contacts(aor)).map((b) => b.contact)).toEqual([
      'sip:a@192.0.2.2',
      'sip:a@192.0.2.1',
    ]);
    clock.advance(61_000);
    expect((await bindings.contacts(aor)).map((b) => b.contact)).toEqual(['sip:a@192.0.2.2']);
    clock.advance(600_000);
    expect(await bindings.contacts(aor)).toEqual([]);
  });

  it('ignores a REGISTER of the same Call-ID with a CSeq not above the stored one, and accepts another Call-ID', async () => {
    const { bindings } = store();
    await bindings.register(aor, change('c1', 5, [{ uri: 'sip:a@192.0.2.1', expires: 600 }]));
    expect(
      await bindings.register(aor, change('c1', 5, [{ uri: 'sip:a@192.0.2.1', expires: 0 }])),
    ).toEqual({ ok: false, reason: 'out-of-order' });
    expect(await bindings.contacts(aor)).toHaveLength(1);
    const other = await bindings.register(
      aor,
      change('c2', 1, [{ uri: 'sip:a@192.0.2.1', expires: 0 }]),
    );
    expect(other).toEqual({ ok: true, contacts: [] });
  });

  it('removes every binding, unless one is newer from the same Call-ID', async () => {
    const { bindings } = store();
    await bindings.register(aor, change('c1', 5, [{ uri: 'sip:a@192.0.2.1', expires: 600 }]));
    await bindings.register(aor, change('c2', 1, [{ uri: 'sip:a@192.0.2.2', expires: 600 }]));
    expect(await bindings.removeAll(aor, { callId: 'c1', cseq: 4 })).toEqual({
      ok: false,
      reason: 'out-of-order',
    });
    expect(await bindings.removeAll(aor, { callId: 'c1', cseq: 6 })).toEqual({
      ok: true,
      contacts: [],
    });
    expect(await bindings.contacts(aor)).toEqual([]);
  });

  it('refuses more contacts than maxContacts, changing nothing', async () => {
    const clock = manualClock();
    const bindings = createBindingStore({ kv: memoryKv(clock), clock, maxContacts: 2 });
    const contacts = [1, 2, 3].map((i) => ({ uri: `sip:a@192.0.2.${i}`, expires: 600 }));
    expect(await bindings.register(aor, change('c1', 1, contacts))).toEqual({
      ok: false,
      reason: 'too-many-contacts',
    });
    expect(await bindings.contacts(aor)).toEqual([]);
  });

  it('refuses inconsistent limits at construction', () => {
    expect(() => createBindingStore({ kv: memoryKv(), minExpires: 100, maxExpires: 50 })).toThrow(
      expect.objectContaining({ code: 'SWB_SIP_INVALID_ARGUMENT' }),
    );
  });
});
