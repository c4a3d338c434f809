// ADD's transaction (plugin/txn.ts): undos run newest first, every one runs
// even when another fails, and a failed undo is logged with its step's name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Txn } from '../../plugin/txn.ts';
import { configureLog } from '../../src/log.ts';

describe('Txn', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fn-txn-'));
  afterEach(() => configureLog({ level: 'silent' }));

  it('undoes newest first, runs every undo past a failing one, and logs the failure', async () => {
    const file = join(dir, 'log');
    configureLog({ level: 'error', file });
    const txn = new Txn();
    const ran: string[] = [];
    txn.undo('ipam', () => ran.push('ipam'));
    await txn.step('bridge', () => 'br0');
    txn.undo('veth', () => {
      ran.push('veth');
      throw new Error('link busy');
    });
    txn.undo('masquerade', async () => ran.push('masquerade'));
    await txn.rollback(new Error('addr add failed'));
    expect(ran).toEqual(['masquerade', 'veth', 'ipam']);
    const line = JSON.parse(readFileSync(file, 'utf8').trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ step: 'veth', error: 'link busy', cause: 'addr add failed' });
    // Undone once: a second rollback has nothing left.
    await txn.rollback(new Error('again'));
    expect(ran).toHaveLength(3);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a step returns what it ran to, sync or async', async () => {
    const txn = new Txn();
    expect(await txn.step('a', () => 1)).toBe(1);
    expect(await txn.step('b', async () => 2)).toBe(2);
  });
});
