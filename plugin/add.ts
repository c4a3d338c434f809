// ADD: bridge + veth + IPAM + addresses/routes in the pod, undoing everything
// it made if any step fails (the Go plugin leaves the veth behind; we don't).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CniError, ErrorCode, toCniError } from '../src/cni/errors.ts';
import type { CmdArgs, Interface, NetConfBase, Result } from '../src/cni/types.ts';
import { CURRENT_VERSION } from '../src/cni/version.ts';
import { batch, configureInNetns, deleteLink, type IpAddrInfo, type IpLink, showLink } from '../src/sys/ip.ts';
import { setupMasq, teardownMasq } from '../src/sys/ipmasq.ts';
import { netnsState } from '../src/sys/netns.ts';
import { ensureSysctl } from '../src/sys/sysctl.ts';
import { familyOf } from '../src/net/cidr.ts';
import { ipamCall } from './ipam.ts';
import { type BridgeConf, parseBridgeConf } from './netconf.ts';
import { bridgeAddrCommands, type L3Plan, planL3, podCommands, randomMac, randomVethName } from './plan.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ensures the bridge exists and is a bridge; returns its MAC and addresses. */
async function ensureBridge(conf: BridgeConf, query: Promise<IpLink | undefined>): Promise<{ mac: string; addrs: IpAddrInfo[] }> {
  let br = await query;
  if (!br) {
    // A fixed MAC at creation stops the bridge from adopting its ports' MACs
    // (cni#285). EEXIST means a concurrent ADD won the race: fine.
    const mac = randomMac(randomBytes);
    try {
      await batch([`link add ${conf.bridge}${conf.mtu ? ` mtu ${conf.mtu}` : ''} address ${mac} type bridge`]);
    } catch (e) {
      if (!/File exists/.test((e as Error).message)) throw e;
    }
    br = await showLink(conf.bridge);
    if (!br) throw new CniError(ErrorCode.TryAgainLater, `bridge ${conf.bridge} vanished while being created`);
    ensureSysctl(`net/ipv6/conf/${conf.bridge}/accept_ra`, '0');
  }
  if (br.linkinfo?.info_kind !== 'bridge') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `"${conf.bridge}" already exists but is not a bridge`, 'set "bridge" to another name, or delete that interface');
  }
  return { mac: br.address ?? '', addrs: br.addr_info ?? [] };
}

// sysfs shows the namespace it was mounted in; the veth's random name exists
// there only if that is ours, so a hit is trustworthy and saves an `ip` run.
async function operstate(name: string): Promise<string | undefined> {
  try {
    return readFileSync(`/sys/class/net/${name}/operstate`, 'utf8').trim().toUpperCase();
  } catch {
    return (await showLink(name))?.operstate;
  }
}

// A new port is usable once the veth is up (plugins#463): poll briefly.
async function waitPortUp(name: string): Promise<void> {
  for (const ms of [0, 20, 50, 200, 500, 1000, 1000]) {
    if (ms) await sleep(ms); // usually up at the first look: no timer
    if ((await operstate(name)) === 'UP') return;
  }
  const l = await showLink(name);
  throw new CniError(ErrorCode.TryAgainLater, `bridge port in error state: ${l?.operstate ?? 'missing'}`, `host veth ${name} did not come up`);
}

export async function cmdAdd(args: CmdArgs, raw: NetConfBase): Promise<Result> {
  const conf = parseBridgeConf(raw, args.args);
  if (netnsState(args.netns) === 'missing') {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `failed to open netns "${args.netns}": no such file or directory`, 'CNI_NETNS must name an existing network namespace');
  }
  const undo: Array<() => Promise<unknown>> = [];
  try {
    // The bridge query runs while the in-process IPAM works.
    const brQuery = showLink(conf.bridge, undefined, { concurrent: true });
    brQuery.catch(() => undefined); // awaited below; no unhandled rejection if IPAM fails first
    // IPAM first: it validates the rest of the config, so bad input fails
    // before the node is touched (even the bridge).
    let plan: L3Plan | undefined;
    let ipamResult: Result | undefined;
    if (conf.ipamType) {
      const type = conf.ipamType;
      ipamResult = await ipamCall('ADD', type, args);
      undo.push(() => ipamCall('DEL', type, args));
      plan = planL3(conf, ipamResult!);
    }
    // Masquerade depends only on the addresses: set it up alongside the rest.
    let masq: Promise<void> | undefined;
    if (plan && conf.ipMasq) {
      const ips = plan.ips.map((ip) => ip.address);
      masq = setupMasq(conf.name, args.containerId, ips);
      masq.catch(() => undefined); // handled where it is awaited; never an unhandled rejection meanwhile
      // Undo waits for the setup, so teardown never races it.
      undo.push(async () => {
        await masq!.catch(() => undefined);
        await teardownMasq(conf.name, args.containerId, ips);
      });
    }
    const br = await ensureBridge(conf, brQuery);

    const hostVeth = randomVethName(randomBytes);
    const hostMac = randomMac(randomBytes);
    const podMac = conf.mac ?? randomMac(randomBytes);
    const mtu = conf.mtu ? ` mtu ${conf.mtu}` : '';
    const hostLines = [
      `link add ${hostVeth}${mtu} address ${hostMac} type veth peer name ${args.ifName}${mtu} address ${podMac} netns ${args.netns}`,
      `link set ${hostVeth} master ${conf.bridge}`,
      ...(conf.hairpinMode ? [`link set ${hostVeth} type bridge_slave hairpin on`] : []),
      `link set ${hostVeth} up`,
      ...(conf.promiscMode ? [`link set ${conf.bridge} promisc on`] : []),
      `link set ${conf.bridge} up`,
      ...(plan ? bridgeAddrCommands(conf, br.addrs ?? [], plan.bridgeAddrs) : []),
      // Pin the bridge MAC so it does not churn as ports come and go.
      ...(br.mac ? [`link set ${conf.bridge} address ${br.mac}`] : []),
    ];
    undo.push(() => deleteLink(hostVeth));
    try {
      await batch(hostLines);
    } catch (e) {
      if (/File exists/.test((e as Error).message) && !(await showLink(hostVeth))) {
        throw new CniError(ErrorCode.InterfaceExists, `container veth name provided (${args.ifName}) already exists`, `the namespace ${args.netns} already has ${args.ifName}; use another CNI_IFNAME or DEL first`);
      }
      throw e;
    }

    if (plan) {
      const v6 = plan.ips.some((ip) => familyOf(ip.address) === 6);
      const sysctls: Record<string, string> = { [`net/ipv4/conf/${args.ifName}/arp_notify`]: '1' };
      if (v6) {
        sysctls[`net/ipv6/conf/${args.ifName}/disable_ipv6`] = '0';
        sysctls[`net/ipv6/conf/${args.ifName}/accept_dad`] = conf.enableDad ? '1' : '0';
      }
      await configureInNetns(args.netns, sysctls, podCommands(args.ifName, plan, conf.enableDad));
      if (conf.isGateway) {
        if (plan.ips.some((ip) => familyOf(ip.address) === 4)) ensureSysctl('net/ipv4/ip_forward', '1');
        if (v6) ensureSysctl('net/ipv6/conf/all/forwarding', '1');
      }
      await masq;
    } else {
      await batch([`link set ${args.ifName} up`], args.netns);
    }
    await waitPortUp(hostVeth);

    const interfaces: Interface[] = [
      { name: conf.bridge, mac: br.mac },
      { name: hostVeth, mac: hostMac },
      { name: args.ifName, mac: podMac, sandbox: args.netns },
    ];
    const result: Result = { cniVersion: CURRENT_VERSION, interfaces };
    if (plan) {
      result.ips = plan.ips;
      if (plan.routes.length) result.routes = plan.routes;
    }
    const dns = conf.dns ?? ipamResult?.dns;
    if (dns) result.dns = dns;
    return result;
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {
        // best effort: the original error is what the user needs to see
      }
    }
    throw toCniError(e);
  }
}
