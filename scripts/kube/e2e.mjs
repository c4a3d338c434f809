#!/usr/bin/env node
// Kubernetes' own network tests (e2e.test 1.20, ginkgo) against a harness
// cluster running flatnet. The tests run from the control-plane node. Two
// things the tests assume of a cloud machine are given to them inside the
// cluster's own namespaces, never outside:
//   - the Networking tests first GET http://google.com from the test process:
//     e2e.test runs in a private mount namespace whose /etc/hosts names a
//     server on the control-plane node's loopback (agnhost netexec);
//   - images are pulled from registries: every image the selected tests use
//     is built here and imported under its exact name (images.mjs).
//
//   node scripts/kube/e2e.mjs [--full | --subset | --focus REGEX] [--keep]
// --subset (default): the tests the README's test command runs (CI);
// --full: every [sig-network] test that applies to a pod network with no
// cluster DNS, cloud load balancer or Internet (FULL_SKIP says why each
// group is left out). Prints the pass/fail table.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { flatnetImageArchive } from '../image-archive.mjs';
import { createKubeCluster, sleep } from './cluster.mjs';
import { busyboxArchive, e2eArchive } from './images.mjs';

$.verbose = false;
$.quiet = true;

/** The tests the README's test command runs: pod<->pod and node<->pod over flatnet, Services over it. */
export const E2E_SUBSET = [
  '[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [NodeConformance] [Conformance]',
  '[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: udp [NodeConformance] [Conformance]',
  '[sig-network] Networking Granular Checks: Pods should function for node-pod communication: http [LinuxOnly] [NodeConformance] [Conformance]',
  '[sig-network] Networking Granular Checks: Pods should function for node-pod communication: udp [LinuxOnly] [NodeConformance] [Conformance]',
  '[sig-network] Services should serve a basic endpoint from pods  [Conformance]',
  '[sig-network] Services should serve multiport endpoints from pods  [Conformance]',
];

/** Why groups of [sig-network] tests are left out of the full run. */
export const FULL_SKIP = [
  ['\\[Feature:', 'feature-gated or needing a feature this cluster has not (NetworkPolicy enforcement among them: not built yet)'],
  ['\\[Disruptive\\]|\\[Serial\\]', 'disruptive or serial: they restart or reconfigure the whole cluster'],
  ['\\[Slow\\]', 'slow: minutes each, beyond what a 2-core run can hold'],
  ['DNS|dns', 'need cluster DNS (CoreDNS), which the harness does not run'],
  ['LoadBalancer|[Ii]ngress|ESIPP|GCE|AWS|Azure|[Cc]loud', 'need a cloud provider or an ingress controller'],
  ['[Ii]nternet|google', 'need the Internet'],
  ['IPv6|[Dd]ual[- ][Ss]tack', 'the cluster is IPv4 only'],
  ['[Hh]ostPort|hostNetwork.*different hostIP', 'hostPort with several host IPs per node'],
  ['ExternalName|externalname', 'ExternalName Services resolve through cluster DNS'],
  ['session affinity.*(timeout|Timeout)', 'wait out affinity timeouts (minutes)'],
  ['Netpol|NetworkPolicy', 'NetworkPolicy is not enforced by flatnet yet'],
  // kube-proxy would set net.netfilter.nf_conntrack_tcp_timeout_close_wait, a
  // sysctl of the whole machine here (nodes are namespaces of one kernel): the
  // harness leaves it alone (kube-proxy's conntrack settings are 0).
  // Named neither DNS nor dns, yet they reach the Service by its name.
  ['hairpin back to themselves|session affinity (work|for service)|create endpoints for unready pods|rejected when no endpoints exist', 'reach the Service by its DNS name (nc/curl to the name): they need cluster DNS'],
  ['TCP CLOSE_WAIT timeout', 'kube-proxy would have to change a machine-wide conntrack sysctl, which the harness never does'],
  ['[Nn]ode[Pp]ort', 'NodePort Services to other nodes\' addresses are covered; the health-check and source-range variants need a cloud'],
];

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Test cases from the junit reports in `dir`: { name, status: passed|failed|skipped, seconds, message }. */
export function readJunit(dir) {
  const out = [];
  for (const f of readdirSync(dir).filter((x) => /^junit.*\.xml$/.test(x))) {
    const xml = readFileSync(join(dir, f), 'utf8');
    for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const attr = (k) => new RegExp(`\\b${k}="([^"]*)"`).exec(m[1])?.[1] ?? '';
      const body = m[3] ?? '';
      const unxml = (s) => s.replace(/&#xA;/g, '\n').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
      const failure = /<failure\b([^>]*)>([\s\S]*?)<\/failure>|<failure\b([^>]*)\/>/.exec(body);
      // e2e 1.20 leaves the attribute empty and puts the failure in the body,
      // after the source location: its first lines that are not a path.
      const attrMessage = failure ? (/\bmessage="([^"]*)"/.exec(failure[1] ?? failure[3])?.[1] ?? '') : '';
      const bodyMessage = failure?.[2] ? (unxml(failure[2].replace(/<!\[CDATA\[|\]\]>/g, '')).split('\n').map((l) => l.trim()).filter((l) => l && !/^\/\S+:\d+$/.test(l)).slice(0, 3).join(' ')) : '';
      const message = attrMessage || bodyMessage;
      const status = failure ? 'failed' : /<skipped\b/.test(body) ? 'skipped' : 'passed';
      out.push({ name: unxml(attr('name')), status, seconds: Number(attr('time')) || 0, message: unxml(message).split('\n')[0] });
    }
  }
  return out.filter((t) => !/^\[(BeforeSuite|AfterSuite|ReportAfterSuite)\]/.test(t.name));
}

/** The table printed after a run. */
export function formatTable(cases) {
  const n = (s) => cases.filter((c) => c.status === s).length;
  const rows = cases.map((c) => `${c.status.padEnd(7)} ${c.seconds.toFixed(0).padStart(4)} s  ${c.name}${c.message ? `\n                 ${c.message.slice(0, 300)}` : ''}`);
  return [...rows, `e2e: ${n('passed')} passed, ${n('failed')} failed, ${n('skipped')} skipped`].join('\n');
}

/**
 * Runs e2e.test on `cluster` with the given focus (exact test names) or
 * regexes; returns the test cases.
 */
export async function runE2e(cluster, { names, focus, skip = [], reportDir, timeoutSeconds = 3600, dryRun = false }) {
  mkdirSync(reportDir, { recursive: true });
  const cp = cluster.cp;
  const hosts = join(reportDir, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost google.com www.google.com\n');
  // The pre-test GET of http://google.com is answered on the node's own loopback.
  cp.start('google-stand-in', cluster.k('agnhost'), ['netexec', '--http-port=80', '--udp-port=0']);
  try {
    await sleep(500);
    const focusRe = names ? names.map((x) => esc(x)).join('|') : focus;
    const args = [
      `--kubeconfig=${cluster.kubeconfig}`,
      '--provider=local',
      `--kubectl-path=${cluster.k('kubectl')}`,
      '--node-os-distro=debian',
      `--report-dir=${reportDir}`,
      `--ginkgo.focus=${focusRe}`,
      ...(skip.length ? [`--ginkgo.skip=${skip.join('|')}`] : []),
      '--ginkgo.noColor',
      ...(dryRun ? ['--ginkgo.dryRun'] : []),
      '--num-nodes=2',
      '--allowed-not-ready-nodes=0',
    ];
    // ginkgo 1 has no suite timeout of its own.
    const r = await cp.run('timeout', [String(timeoutSeconds), 'unshare', '--mount', '--', 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'e2e', hosts, cluster.k('e2e.test'), ...args], { nothrow: true });
    writeFileSync(join(reportDir, 'e2e.log'), `${r.stdout}\n${r.stderr}`);
    // The report lists every spec of the suite; those outside the selection
    // count as skipped there and are left out here.
    const skipRe = skip.length ? new RegExp(skip.join('|')) : undefined;
    const selected = (n) => new RegExp(focusRe).test(n) && !skipRe?.test(n);
    const cases = readJunit(reportDir).filter((t) => selected(t.name));
    if (!cases.length) throw new Error(`e2e.test ran no test (exit ${r.exitCode}):\n${(r.stdout + r.stderr).slice(-3000)}`);
    return cases;
  } finally {
    await cp.stopDaemon('google-stand-in');
  }
}

/** Imports the images the network tests pull into every node. */
export async function loadE2eImages(cluster) {
  for (const tar of [await e2eArchive(), await busyboxArchive()]) await cluster.loadImage(tar);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const full = process.argv.includes('--full');
  const keep = process.argv.includes('--keep');
  const image = await flatnetImageArchive();
  let cluster;
  const down = async () => {
    if (!keep) await cluster?.down();
  };
  process.on('SIGINT', () => void down().then(() => process.exit(130)));
  cluster = await createKubeCluster({ workers: 2, onCreate: (made) => (cluster = made) });
  try {
    await cluster.installFlatnet(image.path);
    await loadE2eImages(cluster);
    const reportDir = join(cluster.dir, 'e2e');
    const focusAt = process.argv.indexOf('--focus');
    const cases = focusAt > 0
      ? await runE2e(cluster, { focus: process.argv[focusAt + 1], reportDir, timeoutSeconds: 7200 })
      : full
        ? await runE2e(cluster, { focus: '\\[sig-network\\]', skip: FULL_SKIP.map(([re]) => re), reportDir, timeoutSeconds: 7200 })
        : await runE2e(cluster, { names: E2E_SUBSET, reportDir });
    console.log(formatTable(cases));
    if (full) console.log(`\nLeft out of the full run:\n${FULL_SKIP.map(([re, why]) => `  ${re}: ${why}`).join('\n')}`);
    process.exitCode = cases.some((c) => c.status === 'failed') ? 1 : 0;
  } finally {
    await down();
  }
}
