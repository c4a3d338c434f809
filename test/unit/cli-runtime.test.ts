// flatnet add|check|del's runtime (a minimal libcni) with a recording plugin
// runner: the order of plugins, prevResult chaining, the cache, and rollback
// of only what an ADD made.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfList } from '../../src/cni/conflist.ts';
import { CniError } from '../../src/cni/errors.ts';
import { addNetwork, attachment, checkNetwork, delNetwork, type PluginRunner } from '../../src/cli/runtime.ts';

const list = parseConfList(JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'flatnet' }, { type: 'portmap' }, { type: 'bandwidth' }] }), 'x.conflist');
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const att = () => {
  const d = mkdtempSync(join(tmpdir(), 'fnt-rt-'));
  dirs.push(d);
  return attachment({ netns: '/pod', containerId: 'c1', ifName: 'eth0', cniPath: '/bin', cacheDir: d });
};

function recorder(failOn?: string) {
  const calls: string[] = [];
  const run: PluginRunner = (plugin, command, stdin, env) => {
    const conf = JSON.parse(stdin);
    calls.push(`${command} ${plugin.type}${conf.prevResult ? ' +prev' : ''} ${env.CNI_CONTAINERID}/${env.CNI_IFNAME}`);
    if (`${command} ${plugin.type}` === failOn) throw new CniError(102, `${plugin.type} refused`);
    return command === 'ADD' ? { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] } : undefined;
  };
  return { calls, run };
}

describe('the CLI runtime', () => {
  it('ADD runs the plugins in order with prevResult chained; CHECK in order; DEL in reverse with the cached result', () => {
    const a = att();
    const r = recorder();
    addNetwork(list, a, r.run);
    checkNetwork(list, a, r.run);
    delNetwork(list, a, r.run);
    expect(r.calls).toEqual([
      'ADD flatnet c1/eth0',
      'ADD portmap +prev c1/eth0',
      'ADD bandwidth +prev c1/eth0',
      'CHECK flatnet +prev c1/eth0',
      'CHECK portmap +prev c1/eth0',
      'CHECK bandwidth +prev c1/eth0',
      'DEL bandwidth +prev c1/eth0',
      'DEL portmap +prev c1/eth0',
      'DEL flatnet +prev c1/eth0',
    ]);
  });

  it('a failed ADD DELs only the plugins that succeeded, in reverse, and caches nothing', () => {
    const a = att();
    const r = recorder('ADD bandwidth');
    expect(() => addNetwork(list, a, r.run)).toThrow('bandwidth: bandwidth refused');
    expect(r.calls).toEqual(['ADD flatnet c1/eth0', 'ADD portmap +prev c1/eth0', 'ADD bandwidth +prev c1/eth0', 'DEL portmap +prev c1/eth0', 'DEL flatnet +prev c1/eth0']);
    expect(() => checkNetwork(list, a, r.run)).toThrow('no cached ADD result');
  });

  it('a failure of the first plugin (a repeated ADD the plugin refused) DELs nothing: the live attachment is left alone', () => {
    const r = recorder('ADD flatnet');
    expect(() => addNetwork(list, att(), r.run)).toThrow('flatnet refused');
    expect(r.calls).toEqual(['ADD flatnet c1/eth0']);
  });

  it('an ADD of an attachment it already made is refused before any plugin runs', () => {
    const a = att();
    const r = recorder();
    addNetwork(list, a, r.run);
    r.calls.length = 0;
    expect(() => addNetwork(list, a, r.run)).toThrow('c1/eth0 is already attached to net');
    expect(r.calls).toEqual([]);
  });

  it('validates the ID and ifname that name the cache file', () => {
    expect(() => attachment({ netns: '/p', containerId: '../../etc/x', ifName: 'eth0', cniPath: '/bin', cacheDir: '/tmp' })).toThrow('invalid characters in containerID');
    expect(() => attachment({ netns: '/p', containerId: 'c', ifName: 'a/b', cniPath: '/bin', cacheDir: '/tmp' })).toThrow('interface name');
  });

  // Found from outside: `flatnet del` with another pod's --netns deleted that
  // pod's interface; with a mistyped --id it deleted the interface and kept the lease.
  describe('CHECK and DEL refuse a netns that is not the ADD\'s', () => {
    const other = (a: ReturnType<typeof att>, o: Partial<{ netns: string; containerId: string }>) => attachment({ ...a, ...o });

    it('the cached attachment given another netns: nothing runs', () => {
      const a = att();
      const r = recorder();
      addNetwork(list, a, r.run);
      r.calls.length = 0;
      expect(() => delNetwork(list, other(a, { netns: '/pod2' }), r.run)).toThrow('c1/eth0 was attached in netns /pod, not /pod2: nothing done');
      expect(() => checkNetwork(list, other(a, { netns: '/pod2' }), r.run)).toThrow('was attached in netns /pod');
      expect(r.calls).toEqual([]);
      delNetwork(list, a, r.run);
      expect(r.calls).toHaveLength(3);
    });

    it('the same namespace under another path (a bind mount, a /proc path) is the same, and runs with the ADD\'s path', () => {
      const a = att();
      const f = join(a.cacheDir, 'nsfile');
      writeFileSync(f, '');
      const r = recorder();
      const netnsSeen: string[] = [];
      const run: PluginRunner = (p, c, stdin, env, path) => (netnsSeen.push(`${c} ${env.CNI_NETNS}`), r.run(p, c, stdin, env, path));
      addNetwork(list, other(a, { netns: f }), run);
      // prevResult names the sandbox by the ADD's path: CHECK with another path would fail in the plugin.
      checkNetwork(list, other(a, { netns: `${a.cacheDir}/./nsfile` }), run);
      expect(delNetwork(list, other(a, { netns: `${a.cacheDir}/./nsfile` }), run)).toBe(true);
      expect(new Set(netnsSeen)).toEqual(new Set([`ADD ${f}`, `CHECK ${f}`, `DEL ${f}`]));
    });

    it('an ID with no attachment, in a netns another cached attachment holds: nothing runs', () => {
      const a = att();
      const r = recorder();
      addNetwork(list, a, r.run);
      r.calls.length = 0;
      expect(() => delNetwork(list, other(a, { containerId: 'c1x' }), r.run)).toThrow('eth0 in netns /pod belongs to c1, not c1x: nothing done');
      expect(r.calls).toEqual([]);
    });

    it('an ID and netns nothing knows of: DEL runs (idempotent, and for attachments made by others)', () => {
      const a = att();
      const r = recorder();
      addNetwork(list, a, r.run);
      r.calls.length = 0;
      expect(delNetwork(list, other(a, { containerId: 'c9', netns: '/pod9' }), r.run)).toBe(false);
      expect(r.calls).toEqual(['DEL bandwidth c9/eth0', 'DEL portmap c9/eth0', 'DEL flatnet c9/eth0']);
    });

    it('a cache written before the netns was kept is still the prevResult of DEL', () => {
      const a = att();
      writeFileSync(join(a.cacheDir, 'net-c1-eth0.json'), JSON.stringify({ cniVersion: '1.0.0', ips: [] }));
      const r = recorder();
      delNetwork(list, other(a, { netns: '/anywhere' }), r.run);
      expect(r.calls).toEqual(['DEL bandwidth +prev c1/eth0', 'DEL portmap +prev c1/eth0', 'DEL flatnet +prev c1/eth0']);
    });
  });
});
