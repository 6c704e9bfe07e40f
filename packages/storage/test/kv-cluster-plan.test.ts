import { describe, expect, it } from 'vitest';
import {
  checkGroupSizes,
  countSlots,
  draftPlan,
  FindingCode,
  formatRanges,
  KvClusterErrorCode,
  layoutFromNodes,
  parseClusterNodes,
  planSlotMoves,
  rangesOf,
  slotsOf,
  type ClusterNodeEntry,
} from '../src/kv/cluster/index.js';
import { SLOT_COUNT } from '../src/kv/index.js';

const NODES = `
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
b1 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922 [10922->-c1]
c1 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383 [10922-<-b1]
a2 127.0.0.1:7004@17004 slave a1 0 0 1 connected
b2 127.0.0.1:7005@17005 slave b1 0 0 2 connected
c2 127.0.0.1:7006@17006 slave,fail c1 0 0 3 disconnected
`;

function group(id: string, port: number, ranges: string, replicas: number): ClusterNodeEntry[] {
  return parseClusterNodes(
    [
      `${id} 127.0.0.1:${port}@${port + 10000} master - 0 0 1 connected ${ranges}`,
      ...Array.from(
        { length: replicas },
        (_, i) =>
          `${id}r${i} 127.0.0.1:${port + 100 + i}@${port + 10100 + i} slave ${id} 0 0 1 connected`,
      ),
    ].join('\n'),
  );
}

const threeGroups = [
  ...group('aaaaaaaa1', 7001, '0-5460', 1),
  ...group('bbbbbbbb1', 7002, '5461-10922', 1),
  ...group('cccccccc1', 7003, '10923-16383', 1),
];

describe('parseClusterNodes', () => {
  it('reads roles, primaries, flags, slot ranges and open slots', () => {
    const nodes = parseClusterNodes(NODES);
    expect(nodes).toHaveLength(6);
    const [a1, b1, c1, a2, , c2] = nodes;
    expect(a1).toMatchObject({
      id: 'a1',
      address: '127.0.0.1:7001',
      role: 'primary',
      myself: true,
    });
    expect(a1?.slots).toEqual([[0, 5460]]);
    expect(b1?.migrating.get(10922)).toBe('c1');
    expect(c1?.importing.get(10922)).toBe('b1');
    expect(a2).toMatchObject({ role: 'replica', primaryId: 'a1', connected: true });
    expect(c2).toMatchObject({ failing: true, connected: false });
  });

  it('reads single slots and hostnames after the bus port', () => {
    const [node] = parseClusterNodes(
      'x 10.0.0.5:6379@16379,redis-a.local master - 0 0 1 connected 7 9-11',
    );
    expect(node?.address).toBe('10.0.0.5:6379');
    expect(node?.slots).toEqual([
      [7, 7],
      [9, 11],
    ]);
  });
});

describe('slot ranges', () => {
  it('merges, expands and counts', () => {
    const ranges = rangesOf([5, 3, 4, 9, 10, 1]);
    expect(ranges).toEqual([
      [1, 1],
      [3, 5],
      [9, 10],
    ]);
    expect(slotsOf(ranges)).toEqual([1, 3, 4, 5, 9, 10]);
    expect(countSlots(ranges)).toBe(6);
    expect(formatRanges(ranges)).toBe('1 3-5 9-10');
  });
});

describe('layoutFromNodes', () => {
  it('reports groups with members, slots and findings', () => {
    const layout = layoutFromNodes(parseClusterNodes(NODES), { readFrom: '127.0.0.1:7001' });
    expect(layout.groups.map((g) => [g.id, g.size, g.slotCount])).toEqual([
      ['a1', 2, 5461],
      ['b1', 2, 5462],
      ['c1', 2, 5461],
    ]);
    expect(layout.groups[0]?.members).toEqual(['127.0.0.1:7001', '127.0.0.1:7004']);
    expect(layout.unassignedSlots).toEqual([]);
    expect(layout.openSlots).toEqual([
      { slot: 10922, node: 'b1', state: 'migrating', peer: 'c1' },
      { slot: 10922, node: 'c1', state: 'importing', peer: 'b1' },
    ]);
    const codes = layout.findings.map((f) => `${f.severity}:${f.code}`);
    expect(codes).toContain('warning:slots-open');
    expect(codes).toContain('error:node-failing');
    expect(codes).not.toContain('error:ag-too-small');
  });

  it('flags unassigned slots and a lone primary', () => {
    const nodes = [
      ...group('aaaaaaaa1', 7001, '0-9999', 1),
      ...group('bbbbbbbb1', 7002, '10000-16000', 0),
    ];
    const layout = layoutFromNodes(nodes, { readFrom: 'x' });
    expect(layout.unassignedSlots).toEqual([[16001, 16383]]);
    const errors = layout.findings.filter((f) => f.severity === 'error').map((f) => f.code);
    expect(errors).toEqual([FindingCode.GroupTooSmall, FindingCode.SlotsUnassigned]);
  });
});

describe('checkGroupSizes (the seed rules)', () => {
  it('errors under two nodes, warns above four and on unequal groups', () => {
    expect(
      checkGroupSizes([
        { id: 'a', size: 2 },
        { id: 'b', size: 2 },
      ]),
    ).toEqual([]);
    const findings = checkGroupSizes([
      { id: 'a', size: 1 },
      { id: 'b', size: 5 },
      { id: 'c', size: 3 },
    ]);
    expect(findings.map((f) => [f.severity, f.code, f.group])).toEqual([
      ['error', 'ag-too-small', 'a'],
      ['warning', 'ag-too-large', 'b'],
      ['warning', 'ag-unequal', undefined],
    ]);
    expect(findings[0]?.message).toMatch(/has 1 node; at least 2/);
    expect(checkGroupSizes([])[0]?.code).toBe('no-groups');
  });
});

describe('planSlotMoves', () => {
  const holders = [
    { id: 'a', slots: [[0, 5460]] as const },
    { id: 'b', slots: [[5461, 10922]] as const },
    { id: 'c', slots: [[10923, 16383]] as const },
  ];

  it('moves the fewest slots to spread them evenly over a new group', () => {
    const moves = planSlotMoves(holders, ['a', 'b', 'c', 'd']);
    const moved = moves.reduce((sum, m) => sum + countSlots(m.slots), 0);
    // Each of a, b, c keeps 4096: 5461 + 5462 + 5461 - 3 × 4096 = 4096 move, the least possible.
    expect(moved).toBe(4096);
    expect(moves.every((m) => m.to === 'd')).toBe(true);
    // Each giver hands over its highest slots, so every group keeps one contiguous range.
    expect(moves.map((m) => [m.from, formatRanges(m.slots)])).toEqual([
      ['a', '4096-5460'],
      ['b', '9557-10922'],
      ['c', '15019-16383'],
    ]);
  });

  it('empties a removed group and keeps shares within one slot', () => {
    const moves = planSlotMoves(holders, ['a', 'c']);
    expect(moves.every((m) => m.from === 'b')).toBe(true);
    const received = new Map<string, number>();
    for (const m of moves) received.set(m.to, (received.get(m.to) ?? 0) + countSlots(m.slots));
    expect(5461 + (received.get('a') ?? 0)).toBe(SLOT_COUNT / 2);
    expect(5461 + (received.get('c') ?? 0)).toBe(SLOT_COUNT / 2);
  });

  it('gives the extra slot of an uneven split to the groups that hold most', () => {
    // 16384 = 3 × 5461 + 1: b already holds 5462, so nothing moves.
    expect(planSlotMoves(holders, ['a', 'b', 'c'])).toEqual([]);
  });

  it('refuses to remove every group', () => {
    expect(() => planSlotMoves(holders, [])).toThrow(
      expect.objectContaining({ code: KvClusterErrorCode.InvalidTarget }),
    );
  });
});

describe('draftPlan', () => {
  const layout = layoutFromNodes(threeGroups, { readFrom: '127.0.0.1:7001' });

  it('orders meet, replicate, migrate for a new group', () => {
    const draft = draftPlan(layout, {
      addGroups: [{ primary: '127.0.0.1:7010', replicas: ['127.0.0.1:7011'] }],
    });
    expect(draft.steps.map((s) => s.kind)).toEqual([
      'meet',
      'meet',
      'replicate',
      'migrate',
      'migrate',
      'migrate',
    ]);
    expect(draft.after.map((g) => [g.id, g.members.length, g.slotCount])).toEqual([
      ['aaaaaaaa1', 2, 4096],
      ['bbbbbbbb1', 2, 4096],
      ['cccccccc1', 2, 4096],
      ['new:127.0.0.1:7010', 2, 4096],
    ]);
  });

  it('removes a group named by a member address and forgets its nodes, replica first', () => {
    const draft = draftPlan(layout, { removeGroups: ['127.0.0.1:7102'] });
    expect(draft.after.map((g) => g.slotCount).sort()).toEqual([8192, 8192]);
    expect(draft.steps.filter((s) => s.kind === 'forget')).toEqual([
      { kind: 'forget', node: '127.0.0.1:7102', id: 'bbbbbbbb1r0' },
      { kind: 'forget', node: '127.0.0.1:7002', id: 'bbbbbbbb1' },
    ]);
  });

  it('adds and removes replicas without moving slots', () => {
    const draft = draftPlan(layout, {
      addReplicas: [{ group: 'aaaaaaaa', node: '127.0.0.1:7020' }],
      removeReplicas: ['127.0.0.1:7103'],
    });
    expect(draft.moves).toEqual([]);
    expect(draft.steps).toEqual([
      { kind: 'meet', node: '127.0.0.1:7020' },
      { kind: 'replicate', node: '127.0.0.1:7020', group: 'aaaaaaaa1' },
      { kind: 'forget', node: '127.0.0.1:7103', id: 'cccccccc1r0' },
    ]);
  });

  it('names what is wrong with a bad target', () => {
    const code = (target: Parameters<typeof draftPlan>[1]): unknown => {
      try {
        draftPlan(layout, target);
        return undefined;
      } catch (error) {
        return [(error as { code: string }).code, (error as Error).message];
      }
    };
    expect(code({ removeGroups: ['nope'] })).toEqual([
      KvClusterErrorCode.InvalidTarget,
      expect.stringMatching(/no availability group "nope"/),
    ]);
    expect(code({ addGroups: [{ primary: '127.0.0.1:7001', replicas: [] }] })).toEqual([
      KvClusterErrorCode.InvalidTarget,
      expect.stringMatching(/already a cluster member/),
    ]);
    expect(
      code({ addGroups: [{ primary: '127.0.0.1:7010', replicas: ['127.0.0.1:7010'] }] }),
    ).toEqual([KvClusterErrorCode.InvalidTarget, expect.stringMatching(/named twice/)]);
    expect(code({ removeReplicas: ['127.0.0.1:7001'] })).toEqual([
      KvClusterErrorCode.InvalidTarget,
      expect.stringMatching(/not a replica/),
    ]);
    expect(code({ addGroups: [{ primary: 'localhost', replicas: [] }] })).toEqual([
      KvClusterErrorCode.InvalidTarget,
      expect.stringMatching(/not host:port/),
    ]);
  });
});
