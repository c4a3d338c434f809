// Results in every CNI version, against a second oracle: Go's `static` IPAM
// plugin (Debian's containernetworking-plugins) prints the same addresses,
// gateways, routes and DNS in each version it supports. Our converters must
// read Go's wire form into the same typed result, and print that result
// back exactly as Go prints it (a round trip through our own converters
// alone would share their blind spots).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Result } from '../../src/cni/types.ts';
import { convertResult, SUPPORTED_VERSIONS, toCurrent } from '../../src/cni/version.ts';

const STATIC = '/usr/lib/cni/static';
const ipam = {
  type: 'static',
  addresses: [
    { address: '10.0.0.2/24', gateway: '10.0.0.1' },
    { address: 'fd00::2/64', gateway: 'fd00::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }, { dst: '192.168.0.0/16', gw: '10.0.0.254' }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'] },
};
const expected: Omit<Result, 'cniVersion'> = {
  ips: [
    { address: '10.0.0.2/24', gateway: '10.0.0.1' },
    { address: 'fd00::2/64', gateway: 'fd00::1' },
  ],
  routes: ipam.routes,
  dns: ipam.dns,
};

/** Go's result for `version`, or undefined when Go refuses the version (its error says which it supports). */
function goResult(version: string): Record<string, unknown> | undefined {
  const r = spawnSync(STATIC, [], {
    input: JSON.stringify({ cniVersion: version, name: 'oracle', ipam }),
    env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'oracle', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
  });
  const out = r.stdout.toString();
  const parsed = JSON.parse(out) as Record<string, unknown>;
  if (r.status !== 0 && parsed.code !== 1) throw new Error(`static ${version}: ${out}`);
  return r.status === 0 ? parsed : undefined;
}

describe.skipIf(!existsSync(STATIC))('CNI results in every version, Go static as the oracle', () => {
  for (const v of SUPPORTED_VERSIONS) {
    it(`${v}: reads Go's result into the typed result and prints it back as Go does`, () => {
      // Go 1.1.1 stops at 1.0.0; 1.1.0's result has 1.0.0's shape (the spec changed no result field).
      const go = goResult(v) ?? { ...goResult('1.0.0')!, cniVersion: v };
      const current = toCurrent(go, v);
      // 0.1.0/0.2.0 carry one address per family, its routes beside it: the same content.
      expect(current.ips!.map(({ address, gateway }) => ({ address, gateway }))).toEqual(expected.ips);
      expect(new Set(current.routes!.map((r) => JSON.stringify(r)))).toEqual(new Set(expected.routes!.map((r) => JSON.stringify(r))));
      expect(current.dns).toEqual(expected.dns);
      expect(convertResult({ cniVersion: '1.1.0', ...expected }, v)).toEqual(go);
    });
  }
});
