// ADD: carries out the plan (plan.ts) through the Kernel, undoing everything
// this call did if any step fails: the veth, the IPAM lease it got, the
// masquerade it set up. (The Go plugin leaves the veth behind; we don't.)
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import type { CmdArgs, NetConfBase, Result } from '../src/cni/types.ts';
import { CURRENT_VERSION } from '../src/cni/version.ts';
import { randomMac, randomVethName } from '../src/net/names.ts';
import { deleteLink, type Kernel, KernelError, type LinkState, type Netns, type PreparedBatch } from '../src/sys/kernel.ts';
import { REF_ID_MAX, refIdOf } from '../src/sys/macspoof-nftables.ts';
import { cutUtf8 } from '../src/sys/nft.ts';
import { mark } from '../src/profile.ts';
import type { PluginDeps } from './deps.ts';
import { type BridgeConf, parseBridgeConf } from './netconf.ts';
import { type AddNames, addResult, type L3Plan, planHost, planL3, planMasq, planPod } from './plan.ts';

/** The bridge as it is, created first when absent (a concurrent ADD may win that race: fine). */
function ensureBridge(k: Kernel, conf: BridgeConf, rand: (n: number) => Uint8Array): LinkState {
  let br = k.linkSummary(conf.bridge);
  if (!br) {
    try {
      // A fixed MAC at creation stops the bridge from adopting its ports' MACs (cni#285).
      k.apply([{ op: 'bridge-add', name: conf.bridge, mac: randomMac(rand), ...(conf.mtu ? { mtu: conf.mtu } : {}) }]);
    } catch (e) {
      if (!(e instanceof KernelError && e.failure === 'exists')) throw e;
    }
    br = k.linkSummary(conf.bridge);
    if (!br) throw new CniError(ErrorCode.TryAgainLater, `bridge ${conf.bridge} vanished while being created`);
  }
  if (br.kind !== 'bridge') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `"${conf.bridge}" already exists but is not a bridge`, 'set "bridge" to another name, or delete that interface');
  }
  // Every bridge, made or found, IPv4-only network too (as Go): a router
  // advertisement sent from a pod would otherwise give the node addresses
  // and routes. Read first, written only when not 0 already. Best effort,
  // as in Go: a read-only /proc/sys does not fail the ADD.
  try {
    k.setSysctls([{ key: `net/ipv6/conf/${conf.bridge}/accept_ra`, value: '0' }]);
  } catch {
    // the bridge works; only RA hardening is missing
  }
  return br;
}

// A new port forwards once the veth is up (plugins#463): poll briefly.
async function waitPortUp(k: Kernel, name: AddNames['hostVeth']): Promise<void> {
  for (const ms of [0, 20, 50, 200, 500, 1000, 1000]) {
    if (ms) await new Promise((r) => setTimeout(r, ms)); // usually up at the first look: no timer
    if (k.linkSummary(name)?.operstate === 'UP') return;
  }
  throw new CniError(ErrorCode.TryAgainLater, `bridge port in error state: ${k.linkSummary(name)?.operstate ?? 'missing'}`, `host veth ${name} did not come up`);
}

const interfaceExists = (args: CmdArgs): CniError =>
  new CniError(ErrorCode.InterfaceExists, `container veth name provided (${args.ifName}) already exists`, `the namespace ${JSON.stringify(args.netns)} already has ${args.ifName}; use another CNI_IFNAME or DEL first`);

/**
 * With enabledad, waits (10 s at most, polling every 50 ms) until no IPv6
 * address of the pod's interface is tentative, as Go's ADD does
 * (SettleAddresses), so a bind to the address right after ADD works. Like
 * Go, it goes on after the bound; an address whose DAD failed is not waited for.
 */
async function settleDad(k: Kernel, ifName: CmdArgs['ifName'], netns: Netns): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const l = k.link(ifName, netns);
    if (!l || !l.addrs.some((a) => a.cidr.family === 6 && a.dad === 'tentative')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Undo = () => unknown;

async function runUndo(undo: Undo[]): Promise<void> {
  for (const u of undo.reverse()) {
    try {
      await u();
    } catch {
      // best effort: the original error is what the user needs to see
    }
  }
}

export async function cmdAdd(args: CmdArgs, raw: NetConfBase, deps: PluginDeps): Promise<Result> {
  const k = deps.kernel;
  const conf = parseBridgeConf(raw, args.args);
  for (const w of conf.warnings) process.stderr.write(`flatnet: warning: ${w}\n`);
  const netns = k.openNetns(args.netns);
  if (!netns) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `failed to open netns "${args.netns}": no such file or directory`, 'CNI_NETNS must name an existing network namespace');
  }
  // Both `ip` processes start now, the pod's inside its namespace: their
  // start-up (~1.5 ms each) overlaps the IPAM and the planning.
  const batches: Batches = { host: k.prepare(), pod: k.prepare(netns) };
  const undo: Undo[] = [];
  try {
    return await addIn(args, conf, netns, deps, batches, undo);
  } catch (e) {
    endBatches(batches); // unsent ones end unused before anything is undone
    await runUndo(undo);
    throw e;
  } finally {
    endBatches(batches);
    k.closeNetns(netns);
  }
}

interface Batches {
  host: PreparedBatch;
  pod: PreparedBatch;
}

/** Collects both batches' processes; a batch never sent ends having done nothing. */
function endBatches(b: Batches): void {
  for (const batch of [b.host, b.pod]) {
    try {
      batch.result();
    } catch {
      // its failure, if any, was already reported by the step that sent it
    }
  }
}

/** The bridge as it is (made when absent) and the veth pair, handed to the host's `ip` at once. */
function sendVeth(k: Kernel, conf: BridgeConf, args: CmdArgs, netns: Netns, names: AddNames, batches: Batches, deps: PluginDeps, undo: Undo[]): LinkState {
  const br = ensureBridge(k, conf, deps.random);
  mark('bridge');
  // Before the batch: one that fails half-way may have made the veth.
  undo.push(() => deleteLink(k, names.hostVeth));
  batches.host.send(planHost(conf, args.ifName, netns, br, undefined, names).veth);
  return br;
}

/** Masquerade depends only on the addresses: it runs alongside the rest; undo waits for it, so teardown never races it. */
function startMasq(k: Kernel, conf: BridgeConf, args: CmdArgs, l3: L3Plan | undefined, undo: Undo[]): Promise<void> | undefined {
  const plan = planMasq(conf, args.containerId, args.ifName, l3);
  if (!plan) return undefined;
  const masq = k.podMasq(conf.ipMasqBackend);
  const setup = masq.setup(plan);
  setup.catch(() => undefined); // awaited by the caller; never an unhandled rejection meanwhile
  undo.push(async () => {
    await setup.catch(() => undefined);
    masq.teardown(plan);
  });
  return setup;
}

/**
 * macspoofchk: the pod's MAC is known before the veth exists and the rule
 * matches the host veth by name, so the rules go in alongside the rest; undo
 * waits for them, then removes them.
 */
function startSpoofCheck(k: Kernel, conf: BridgeConf, args: CmdArgs, names: AddNames, undo: Undo[]): Promise<void> | undefined {
  if (!conf.macSpoofChk) return undefined;
  const sc = k.macSpoofCheck();
  const refId = refIdOf(args.containerId, args.ifName);
  if (cutUtf8(refId, REF_ID_MAX) !== refId) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `macspoofchk: container ID and interface name make a rule comment nftables cannot hold (more than ${REF_ID_MAX} bytes)`, 'use a shorter CNI_CONTAINERID (runtimes use 64 characters) or turn macspoofchk off');
  }
  const setup = sc.setup({ refId, hostVeth: names.hostVeth, mac: names.podMac }).catch((e: unknown) => {
    throw new CniError(ErrorCode.Internal, `failed to setup spoof-check: ${(e as Error).message}`, 'macspoofchk needs nft (nftables, with JSON support) on the node and a kernel with nf_tables for the bridge family');
  });
  setup.catch(() => undefined); // awaited by the caller
  undo.push(async () => {
    await setup.catch(() => undefined);
    sc.teardown(refId);
  });
  return setup;
}

async function addIn(args: CmdArgs, conf: BridgeConf, netns: Netns, deps: PluginDeps, batches: Batches, undo: Undo[]): Promise<Result> {
  const k = deps.kernel;
  // A pod that has the interface already is a repeated ADD: refused before
  // the IPAM and the masquerade run, whose undo would take the live pod's
  // lease and chain with it (they are keyed by container and interface).
  if (k.linkSummary(args.ifName, netns)) throw interfaceExists(args);
  const names: AddNames = { hostVeth: randomVethName(deps.random), hostMac: randomMac(deps.random), podMac: conf.mac ?? randomMac(deps.random) };
  const spoofDone = startSpoofCheck(k, conf, args, names, undo);
  // Bad input fails before the node is touched (even the bridge). Our own
  // IPAM's config is checked without allocating, and then the kernel makes
  // the veth while the IPAM allocates; an exec'd IPAM is the check, so it
  // goes first. Only a lease this call got is released on failure.
  const early = !conf.ipam || ((await deps.ipamPreflight?.(conf.ipam, args)) ?? false);
  let br = early ? sendVeth(k, conf, args, netns, names, batches, deps, undo) : undefined;
  let ipam: Result | undefined;
  let l3: L3Plan | undefined;
  if (conf.ipam) {
    const target = conf.ipam;
    ipam = await deps.ipam('ADD', target, args);
    undo.push(() => deps.ipam('DEL', target, args));
    mark('ipam');
    l3 = planL3(conf, ipam!);
  }
  const masqDone = startMasq(k, conf, args, l3, undo);
  br ??= sendVeth(k, conf, args, netns, names, batches, deps, undo);
  const host = planHost(conf, args.ifName, netns, br, l3, names);
  try {
    batches.host.send(host.bridge);
    batches.host.result();
  } catch (e) {
    // Made meanwhile by a racing ADD of the same pod: the same answer.
    if (e instanceof KernelError && e.failure === 'exists' && e.failedOp?.op === 'veth-add' && !k.linkSummary(names.hostVeth)) throw interfaceExists(args);
    throw e;
  }
  mark('host');
  k.setSysctls(host.sysctls);
  const pod = planPod(args.ifName, l3, conf.enableDad, conf.disableContainerInterface);
  k.setSysctls(pod.sysctls, netns);
  mark('pod-sysctls');
  batches.pod.send(pod.ops);
  batches.pod.result();
  mark('pod');
  if (conf.enableDad && l3?.addrs.some((a) => a.cidr.family === 6)) await settleDad(k, args.ifName, netns);
  await masqDone; // a failed masquerade fails the ADD
  await spoofDone;
  // A port whose peer is down never comes up (newer Go skips the wait too).
  if (!conf.disableContainerInterface) await waitPortUp(k, names.hostVeth);
  mark('port-up');
  return addResult(conf, args.ifName, netns, br.mac, names, l3, ipam, CURRENT_VERSION);
}
