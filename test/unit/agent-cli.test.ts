// flatnet agent's flags: every mistake is a usage error (exit 2) before
// anything runs, with a message that says what to fix.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseListenAddr } from '../../src/agent/health.ts';
import { main } from '../../src/cli/main.ts';

describe('flatnet agent flags', () => {
  let stderr = '';
  afterEach(() => vi.restoreAllMocks());
  const run = async (...argv: string[]) => {
    stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
    return main(['agent', ...argv]);
  };
  const ok = ['--node-name', 'n1', '--nodes-file', '/nonexistent/nodes.json'];

  it.each([
    [[...ok], '--cluster-cidr'],
    [[...ok, '--cluster-cidr', '0.0.0.0/0'], 'is not a CIDR such as 10.244.0.0/16'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--node-name', 'n2'], '--node-name given more than once'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--resync', '2', '--resync', '3600'], '--resync given more than once'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--health-addr', 'localhost'], '--health-addr "localhost" is not host:port'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--health-addr', '1.2.3.4:99999'], 'is not host:port'],
    // Found from outside: each of these was accepted.
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--conf-dir', ''], '--conf-dir needs a value'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--status-file', ''], '--status-file needs a value'],
    [['--node-name', '', '--nodes-file', '/x', '--cluster-cidr', '10.244.0.0/16'], '--node-name needs a value'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--network-name', ''], '--network-name ""'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--conf-file', '../escape.conflist'], 'must be a file name ending in .conflist'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--conf-file', '/tmp/abs.conflist'], 'must be a file name ending in .conflist'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--kubeconfig', '/k'], '--nodes-file and --kubeconfig exclude each other'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--resync', '0.001'], '--resync must be a number of seconds, at least 1, got 0.001'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--resync', 'abc'], 'got something that is not a number'],
    [[...ok, '--cluster-cidr', '10.244.0.0/16', '--once', '--remove-masquerade-on-exit'], 'not to --once'],
  ])('refuses %j', async (argv, msg) => {
    expect(await run(...argv)).toBe(2);
    expect(stderr).toContain(msg);
  });

  it('reads listen addresses', () => {
    expect(parseListenAddr('127.0.0.1:9742')).toEqual({ host: '127.0.0.1', port: 9742 });
    expect(parseListenAddr('[::1]:9742')).toEqual({ host: '::1', port: 9742 });
    expect(parseListenAddr(':9742')).toEqual({ host: '::', port: 9742 });
    expect(parseListenAddr('::1:9742')).toBeUndefined();
  });
});
