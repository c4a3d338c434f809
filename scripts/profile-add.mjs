#!/usr/bin/env node
// Where an ADD's time goes, step by step: N ADDs (then DELs) of flatnet with
// FLATNET_PROFILE=1, in throw-away namespaces (fnb-*), medians per step.
//   node scripts/profile-add.mjs [--pods 30] [--conf agent|masq] [--leases N]
// --leases pre-fills the store with N other leases (a full node has ~110).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'dist/bin');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const PODS = Number(arg('pods', 30));
const LEASES = Number(arg('leases', 0));
const MASQ = arg('conf', 'agent') === 'masq';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main() {
  const tag = `fnb-prof${process.pid}`;
  const nss = [`${tag}-node`, ...Array.from({ length: PODS }, (_, i) => `${tag}-p${i}`)];
  const work = mkdtempSync(join(tmpdir(), 'fnb-prof-'));
  // The conflist the agent writes (ipMasq off), or the per-pod masquerade case.
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'prof', type: 'flatnet', bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: MASQ, hairpinMode: true, ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.88.0.0/16' }]], dataDir: work } });
  const run = (command, id, ns, extra = {}) =>
    spawnSync('ip', ['netns', 'exec', nss[0], join(bin, 'flatnet')], {
      input: conf,
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: ns ? `/var/run/netns/${ns}` : '', CNI_IFNAME: 'eth0', CNI_PATH: bin, FLATNET_PROFILE: '1', ...extra },
    });
  try {
    for (const ns of nss) execFileSync('ip', ['netns', 'add', ns]);
    for (let i = 0; i < LEASES; i++) spawnSync(join(bin, 'flatnet-ipam'), { input: conf, env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `filler${i}`, CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: bin } });
    run('ADD', 'warm', nss[1]);
    run('DEL', 'warm', nss[1]);
    const rows = { ADD: [], DEL: [] };
    for (let i = 0; i < PODS; i++) {
      for (const cmd of ['ADD', 'DEL']) {
        const r = run(cmd, `p${i}`, nss[1 + i]);
        if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stdout}${r.stderr}`);
        const line = /flatnet-profile (.*)/.exec(r.stderr)?.[1] ?? '';
        rows[cmd].push(Object.fromEntries(line.split(' ').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])));
      }
    }
    for (const cmd of ['ADD', 'DEL']) {
      console.log(`${cmd} (${PODS} runs, ${LEASES} other leases, ipMasq ${MASQ}): step ends at (median ms, from the plugin's first mark)`);
      let prev = 0;
      for (const step of Object.keys(rows[cmd][0] ?? {})) {
        const m = median(rows[cmd].map((r) => r[step]));
        console.log(`  ${step.padEnd(14)} ${m.toFixed(2).padStart(7)}  +${(m - prev).toFixed(2)}`);
        prev = m;
      }
    }
  } finally {
    for (const ns of nss) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(work, { recursive: true, force: true });
  }
}

main();
