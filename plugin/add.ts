// ADD: carries out the plan (plan.ts) through the Kernel as one linear
// transaction (txn.ts).
import { answerAs, CniError, ErrorCode } from '../src/cni/errors.ts';
import type { CmdArgs, NetConfBase, Result } from '../src/cni/types.ts';
import { CURRENT_VERSION } from '../src/cni/version.ts';
import { randomMac, randomVethName } from '../src/net/names.ts';
import { deleteLink, type Kernel, KernelError, type LinkState, type Netns, type PreparedBatch } from '../src/sys/kernel.ts';
import { REF_ID_MAX, refIdOf } from '../src/sys/macspoof-nftables.ts';
import { cutUtf8 } from '../src/sys/nft.ts';
import type { PluginDeps } from './deps.ts';
import { type BridgeConf, parseBridgeConf } from './netconf.ts';
import { Txn } from './txn.ts';
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

/**
 * ADD, in the order the steps run: the IPAM first (our own in-process with its
 * config parsed once, any other exec'd), so a config or pool it refuses never
 * touches the node, not even the bridge; then the masquerade (started first,
 * as the slowest, and awaited last), the bridge, the veth, the bridge's
 * gateway, the pod's side. A failure
 * undoes, newest first, what this call did: the veth, the lease it got, the
 * masquerade (the Go plugin leaves the veth behind; we don't).
 */
export async function cmdAdd(args: CmdArgs, raw: NetConfBase, deps: PluginDeps): Promise<Result> {
  const k = deps.kernel;
  const conf = parseBridgeConf(raw, args.args);
  for (const w of conf.warnings) process.stderr.write(`flatnet: warning: ${w}\n`);
  const netns = answerAs(ErrorCode.InvalidEnvironmentVariables, () => k.openNetns(args.netns));
  if (!netns) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `failed to open netns "${args.netns}": no such file or directory`, 'CNI_NETNS must name an existing network namespace');
  }
  // Both `ip` processes start now, the pod's inside its namespace: their
  // start-up (~1.5 ms each) overlaps the IPAM and the planning.
  const batches: Batches = { host: k.prepare(), pod: k.prepare(netns) };
  const txn = new Txn();
  try {
    return await addSteps(txn, args, raw, conf, netns, deps, batches);
  } catch (e) {
    endBatches(batches); // unsent ones end unused before anything is undone
    await txn.rollback(e);
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

/** Masquerade depends only on the addresses: it runs alongside the rest; undo waits for it, so teardown never races it. */
function startMasq(k: Kernel, conf: BridgeConf, args: CmdArgs, l3: L3Plan | undefined, txn: Txn): Promise<void> | undefined {
  const plan = planMasq(conf, args.containerId, args.ifName, l3);
  if (!plan) return undefined;
  const masq = k.podMasq(conf.ipMasqBackend);
  const setup = masq.setup(plan);
  setup.catch(() => undefined); // awaited by the caller; never an unhandled rejection meanwhile
  txn.undo('masquerade', async () => {
    await setup.catch(() => undefined);
    masq.teardown(plan);
  });
  return setup;
}

/** macspoofchk's rule comment names the attachment; nftables holds a bounded comment: refused before anything runs. */
function spoofCheckRef(conf: BridgeConf, args: CmdArgs): string | undefined {
  if (!conf.macSpoofChk) return undefined;
  const refId = refIdOf(args.containerId, args.ifName);
  if (cutUtf8(refId, REF_ID_MAX) !== refId) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `macspoofchk: container ID and interface name make a rule comment nftables cannot hold (more than ${REF_ID_MAX} bytes)`, 'use a shorter CNI_CONTAINERID (runtimes use 64 characters) or turn macspoofchk off');
  }
  return refId;
}

/**
 * macspoofchk: the pod's MAC is known before the veth exists and the rule
 * matches the host veth by name, so the rules go in alongside the rest; undo
 * waits for them, then removes them.
 */
function startSpoofCheck(k: Kernel, refId: string | undefined, names: AddNames, txn: Txn): Promise<void> | undefined {
  if (refId === undefined) return undefined;
  const sc = k.macSpoofCheck();
  const setup = sc.setup({ refId, hostVeth: names.hostVeth, mac: names.podMac }).catch((e: unknown) => {
    throw new CniError(ErrorCode.Internal, `failed to setup spoof-check: ${(e as Error).message}`, 'macspoofchk needs nft (nftables, with JSON support) on the node and a kernel with nf_tables for the bridge family');
  });
  setup.catch(() => undefined); // awaited by the caller
  txn.undo('spoof-check', async () => {
    await setup.catch(() => undefined);
    sc.teardown(refId);
  });
  return setup;
}

async function addSteps(txn: Txn, args: CmdArgs, raw: NetConfBase, conf: BridgeConf, netns: Netns, deps: PluginDeps, batches: Batches): Promise<Result> {
  const k = deps.kernel;
  // A pod that has the interface already is a repeated ADD: refused before
  // the IPAM and the masquerade run, whose undo would take the live pod's
  // lease and chain with it (they are keyed by container and interface).
  if (k.linkSummary(args.ifName, netns)) throw interfaceExists(args);
  const names: AddNames = { hostVeth: randomVethName(deps.random), hostMac: randomMac(deps.random), podMac: conf.mac ?? randomMac(deps.random) };
  const spoofRef = spoofCheckRef(conf, args);

  let ipam: Result | undefined;
  let l3: L3Plan | undefined;
  if (conf.ipam) {
    const target = await deps.ipam(conf.ipam, raw, args);
    ipam = await txn.step('ipam', () => target.call('ADD', args));
    // Only a lease this call got is released on failure.
    txn.undo('ipam', () => target.call('DEL', args));
    l3 = planL3(conf, ipam!);
  }
  // iptables-restore or nft is the slowest step: started first, awaited last.
  const masqDone = startMasq(k, conf, args, l3, txn);
  const spoofDone = startSpoofCheck(k, spoofRef, names, txn);
  const br = await txn.step('bridge', () => ensureBridge(k, conf, deps.random));
  const host = planHost(conf, args.ifName, netns, br, l3, names);
  // Before the batch: one that fails half-way may have made the veth.
  txn.undo('veth', () => deleteLink(k, names.hostVeth));
  batches.host.send(host.veth);
  await txn.step('host', () => {
    try {
      batches.host.send(host.bridge);
      batches.host.result();
    } catch (e) {
      // Made meanwhile by a racing ADD of the same pod: the same answer.
      if (e instanceof KernelError && e.failure === 'exists' && e.failedOp?.op === 'veth-add' && !k.linkSummary(names.hostVeth)) throw interfaceExists(args);
      throw e;
    }
    k.setSysctls(host.sysctls);
  });
  const pod = planPod(args.ifName, l3, conf.enableDad, conf.disableContainerInterface);
  await txn.step('pod', () => {
    k.setSysctls(pod.sysctls, netns);
    batches.pod.send(pod.ops);
    batches.pod.result();
  });
  if (conf.enableDad && l3?.addrs.some((a) => a.cidr.family === 6)) await txn.step('dad', () => settleDad(k, args.ifName, netns));
  await masqDone; // a failed masquerade fails the ADD
  await spoofDone;
  // A port whose peer is down never comes up (newer Go skips the wait too).
  if (!conf.disableContainerInterface) await txn.step('port-up', () => waitPortUp(k, names.hostVeth));
  return addResult(conf, args.ifName, netns, br.mac, names, l3, ipam, CURRENT_VERSION);
}
