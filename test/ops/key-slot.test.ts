import { describe, expect, it } from 'vitest';
import { CLUSTER_SLOTS, crc16, hashTagOf, keySlot } from '../../src/ops/key-slot.js';

describe('Redis Cluster key slots', () => {
  it('computes CRC16/XMODEM as the cluster specification gives it (123456789 → 0x31C3)', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(crc16(Buffer.alloc(0))).toBe(0);
  });

  // Slots as `CLUSTER KEYSLOT` answers them on Redis 7 (the cluster fault test checks more against a live cluster).
  it.each([
    ['foo', 12182],
    ['bar', 5061],
    ['hello', 866],
    ['{approval-gate}:x', 13872],
    ['{user1000}.following', 3443],
    ['a{b}c', 3300],
    ['{}x', 10595],
    ['ü{é}', 10180],
  ])('puts %s in slot %i', (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it.each([
    ['{approval-gate}:approvals', 'approval-gate'],
    ['bull:{q}:wait', 'q'],
    ['{a}{b}', 'a'],
    ['{{a}}', '{a'],
    ['{}', undefined],
    ['{}{a}', undefined],
    ['no tag', undefined],
    ['open{ only', undefined],
    ['close} then {', undefined],
  ])('reads the hash tag of %s as %s', (key, tag) => {
    expect(hashTagOf(key)).toBe(tag);
  });

  it('keys with one hash tag share a slot whatever follows it, and every slot is below 16384', () => {
    const slots = new Set(['{gate}:approval:1', '{gate}:audit', '{gate}:bull:requests:wait', '{gate}'].map(keySlot));
    expect(slots.size).toBe(1);
    for (const key of ['', 'x', 'approvals:policy-snapshot', '\u{1F600}']) expect(keySlot(key)).toBeLessThan(CLUSTER_SLOTS);
  });
});
