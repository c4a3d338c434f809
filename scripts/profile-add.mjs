#!/usr/bin/env node
// Where an ADD's time goes, step by step: N ADDs (then DELs) of flatnet with
// FLATNET_PROFILE=1, in throw-away namespaces (fnb-*), medians per step.
//   node scripts/profile-add.mjs [--pods 30] [--conf agent|masq] [--leases N] [--burst]
// --leases pre-fills the store with N other leases (a full node has ~110);
// --burst runs the ADDs (then the DELs) all at once, as a node full of pods
// starting does, and shows each step's duration (median, p95, max).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
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
const BURST = process.argv.includes('--burst');

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** "stdin=0.03 ipam=2.10 …" (ms since the first mark) as [[step, ms since the previous step]]. */
function steps(stderr) {
  const marks = (/flatnet-profile (.*)/.exec(stderr)?.[1] ?? '').split(' ').filter(Boolean).map((kv) => kv.split('='));
  let prev = 0;
  return marks.map(([k, v]) => {
    const d = Number(v) - prev;
    prev = Number(v);
    return [k, d];
  });
}

function report(title, runs) {
  console.log(title);
  const names = runs[0]?.map(([k]) => k) ?? [];
  console.log(`  ${'step'.padEnd(14)} ${'median'.padStart(8)} ${'p95'.padStart(8)} ${'max'.padStart(8)}  (ms spent in the step)`);
  for (const [i, name] of names.entries()) {
    const xs = runs.map((r) => r[i]?.[1] ?? 0);
    console.log(`  ${name.padEnd(14)} ${pct(xs, 50).toFixed(2).padStart(8)} ${pct(xs, 95).toFixed(2).padStart(8)} ${Math.max(...xs).toFixed(2).padStart(8)}`);
  }
  const totals = runs.map((r) => r.reduce((a, [, d]) => a + d, 0));
  console.log(`  ${'total'.padEnd(14)} ${pct(totals, 50).toFixed(2).padStart(8)} ${pct(totals, 95).toFixed(2).padStart(8)} ${Math.max(...totals).toFixed(2).padStart(8)}`);
}

async function main() {
  const tag = `fnb-prof${process.pid}`;
  const nss = [`${tag}-node`, ...Array.from({ length: PODS }, (_, i) => `${tag}-p${i}`)];
  const work = mkdtempSync(join(tmpdir(), 'fnb-prof-'));
  // The conflist the agent writes (ipMasq off), or the per-pod masquerade case.
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'prof', type: 'flatnet', bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: MASQ, hairpinMode: true, logFile: join(work, 'cni.log'), ipam: { type: 'flatnet-ipam', ranges: [[{ subnet: '10.88.0.0/16' }]], dataDir: work } });
  const envOf = (command, id, ns) => ({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: ns ? `/var/run/netns/${ns}` : '', CNI_IFNAME: 'eth0', CNI_PATH: bin, FLATNET_PROFILE: '1' });
  const runSync = (command, id, ns) => spawnSync('ip', ['netns', 'exec', nss[0], join(bin, 'flatnet')], { input: conf, encoding: 'utf8', env: envOf(command, id, ns) });
  const runAsync = (command, id, ns) =>
    new Promise((resolve) => {
      const c = spawn('ip', ['netns', 'exec', nss[0], join(bin, 'flatnet')], { env: envOf(command, id, ns) });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.stdin.end(conf);
      c.on('close', (status) => resolve({ status, stdout: out, stderr: err }));
    });
  const check = (cmd, r) => {
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stdout}${r.stderr}`);
    return steps(r.stderr);
  };
  try {
    for (const ns of nss) execFileSync('ip', ['netns', 'add', ns]);
    for (let i = 0; i < LEASES; i++) spawnSync(join(bin, 'flatnet-ipam'), { input: conf, env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `filler${i}`, CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: bin } });
    check('ADD', runSync('ADD', 'warm', nss[1]));
    check('DEL', runSync('DEL', 'warm', nss[1]));
    const label = `${PODS} ${BURST ? 'concurrent' : 'sequential'} runs, ${LEASES} other leases, ipMasq ${MASQ}`;
    if (BURST) {
      for (const cmd of ['ADD', 'DEL']) {
        const runs = await Promise.all(nss.slice(1).map((ns, i) => runAsync(cmd, `p${i}`, ns)));
        report(`${cmd} (${label})`, runs.map((r) => check(cmd, r)));
      }
      return;
    }
    const rows = { ADD: [], DEL: [] };
    for (let i = 0; i < PODS; i++) for (const cmd of ['ADD', 'DEL']) rows[cmd].push(check(cmd, runSync(cmd, `p${i}`, nss[1 + i])));
    for (const cmd of ['ADD', 'DEL']) report(`${cmd} (${label})`, rows[cmd]);
  } finally {
    for (const ns of nss) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
