// The same flows driven through libcni, the client library of containerd and
// CRI-O: a conflist that works with Go bridge+host-local must work with
// flatnet+flatnet-ipam after changing only the two "type" fields.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libcniDriver } from '../helpers/libcni.ts';
import { createNetns, deleteAllNetns, inNs, ipJson, isRoot, type Netns } from '../helpers/netns.ts';
import { bridgeConf, CNI_PATH, tempDir } from '../helpers/plugin.ts';

describe.runIf(isRoot())('through libcni (containerd/CRI-O client library)', () => {
  let driver: string | undefined;
  let dir: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    driver = libcniDriver();
    dir = tempDir('fnt-libcni');
  }, 600_000);
  afterAll(async () => {
    await deleteAllNetns();
    dir.remove();
  });

  const drive = (node: Netns, verb: string, conflist: string, pod: Netns, id: string, env: Record<string, string> = {}) =>
    execa('ip', ['netns', 'exec', node.name, driver!, verb, conflist, pod.path, id], {
      env: { CNI_PATH, CNI_CACHE_DIR: join(dir.path, 'cache', node.name), ...env },
      reject: false,
    });

  function conflist(version: string, flavour: 'flatnet' | 'go', node: Netns): string {
    const { cniVersion, name, ...plugin } = bridgeConf({ version, flavour, dataDir: join(dir.path, 'data', node.name), extra: { isDefaultGateway: true }, ipamExtra: { routes: [] } });
    // portmap chained after the bridge, as in the usual containerd conflist.
    const list = { cniVersion, name, plugins: [plugin, { type: 'portmap', capabilities: { portMappings: true } }] };
    const path = join(dir.path, `${flavour}-${version}-${node.name}.conflist`);
    writeFileSync(path, JSON.stringify(list));
    return path;
  }

  for (const version of ['0.3.1', '0.4.0', '1.0.0']) {
    it(`ADD, CHECK, DEL of two pods with cniVersion ${version}: flatnet behaves as Go bridge+host-local`, async () => {
      expect(driver, 'libcni-driver could not be built').toBeDefined();
      const results: Record<string, any> = {};
      for (const flavour of ['go', 'flatnet'] as const) {
        const node = await createNetns(`n${flavour}`);
        const [p1, p2] = [await createNetns('p1'), await createNetns('p2')];
        const list = conflist(version, flavour, node);
        const a = await drive(node, 'add', list, p1, 'ctr-a');
        expect(a.exitCode, a.stderr).toBe(0);
        const b = await drive(node, 'add', list, p2, 'ctr-b', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=b' });
        expect(b.exitCode, b.stderr).toBe(0);
        results[flavour] = JSON.parse(a.stdout);
        const ipB = JSON.parse(b.stdout).ips[0].address.split('/')[0];
        expect((await inNs(p1, ['ping', '-c', '1', '-W', '2', ipB])).exitCode).toBe(0);
        if (version !== '0.3.1') {
          const c = await drive(node, 'check', list, p1, 'ctr-a');
          expect(c.exitCode, c.stderr).toBe(0);
        }
        for (const [p, id] of [[p1, 'ctr-a'], [p2, 'ctr-b']] as const) {
          const d = await drive(node, 'del', list, p, id);
          expect(d.exitCode, d.stderr).toBe(0);
        }
        expect(await ipJson(node, ['link', 'show', 'type', 'veth'])).toEqual([]);
        expect((await inNs(node, ['iptables-save', '-t', 'nat'])).stdout).not.toContain('CNI-');
      }
      // Same shape: names and MACs differ by nature, the rest must not.
      const shape = (r: any) => ({
        cniVersion: r.cniVersion,
        interfaces: r.interfaces.map((i: any) => ({ name: i.name.startsWith('veth') ? 'veth' : i.name, sandbox: i.sandbox ? 'pod' : undefined, mac: /^[0-9a-f:]{17}$/.test(i.mac) })),
        ips: r.ips,
        routes: r.routes,
      });
      expect(shape(results.flatnet)).toEqual(shape(results.go));
    });
  }
});
