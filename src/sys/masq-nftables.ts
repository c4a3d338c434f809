// Per-pod masquerade (`ipMasq`) in nftables, in the Go bridge plugin's layout
// (pkg/ip/ipmasq_nftables_linux.go, plugins v1.6+): table inet
// cni_plugins_masquerade, one rule per pod address in chain masq_checks whose
// comment starts with a hash of network, ifname and container ID. The same
// names, comments and hashes mean DEL and GC by either plugin find the other's
// rules. Each change is one `nft -f -` transaction printed from typed values.
import { createHash } from 'node:crypto';
import type { PodMasq, PodMasqAttachment } from './kernel.ts';
import { cutUtf8, NFT_COMMENT_MAX, nftAddr, nftApply, nftApplyAsync, nftList, nftPrefix, nftProto, type NftRule, nftSafe, nftString } from './nft.ts';

export const POD_TABLE = 'inet cni_plugins_masquerade';
export const POD_CHAIN = 'masq_checks';
const TABLE_COMMENT = 'Masquerading for plugins from github.com/containernetworking/plugins';
const CHAIN_COMMENT = 'Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet';

const sha512hex = (s: string): string => createHash('sha512').update(s).digest('hex');

/** Go's hashForNetwork: the first 16 hex digits of sha512(network). */
export const hashForNetwork = (net: string): string => sha512hex(net).slice(0, 16);

/** Go's hashForInstance: what every rule of one attachment's comment starts with. */
export const hashForInstance = (net: string, ifName: string, id: string): string => `${hashForNetwork(net)}-${sha512hex(`${ifName}:${id}`).slice(0, 16)}`;

// Go removes `"`; a backslash or control character (which Go would print
// escaped and nft would keep escaped) cannot be an nft string at all, so it
// becomes "?". Network names and container IDs never have either; an ifname may.
const clean = (s: string): string => nftSafe(s.replace(/"/g, ''));

/** Go's commentForInstance: the hash, then who it is for, cut to what nftables keeps. */
export function commentForInstance(net: string, ifName: string, id: string): string {
  return cutUtf8(`${hashForInstance(net, ifName, id)}, net: ${clean(net)}, if: ${clean(ifName)}, id: ${clean(id)}`, NFT_COMMENT_MAX);
}

/**
 * Go's setup transaction: table and chains ensured, postrouting refilled with
 * its three rules, this attachment's stale rules (`stale` handles) deleted and
 * one rule per address added. `objectComments` false drops the table and
 * chain comments, as knftables does for kernels that cannot keep them.
 */
export function podSetupScript(a: PodMasqAttachment, stale: number[], objectComments = true): string {
  const T = POD_TABLE;
  const comment = nftString(commentForInstance(a.network, a.ifName, a.containerId));
  const lines = [
    objectComments ? `add table ${T} { comment ${nftString(TABLE_COMMENT)} ; }` : `add table ${T}`,
    objectComments ? `add chain ${T} ${POD_CHAIN} { comment ${nftString(CHAIN_COMMENT)} ; }` : `add chain ${T} ${POD_CHAIN}`,
    `add chain ${T} postrouting { type nat hook postrouting priority 100 ; }`,
    `flush chain ${T} postrouting`,
    // Two spaces, as knftables prints them: the whole script is byte for byte Go's.
    `add rule ${T} postrouting ip daddr == 224.0.0.0/4  return`,
    `add rule ${T} postrouting ip6 daddr == ff00::/8  return`,
    `add rule ${T} postrouting goto ${POD_CHAIN}`,
    ...stale.map((h) => `delete rule ${T} ${POD_CHAIN} handle ${h}`),
    ...a.addresses.map((ip) => `add rule ${T} ${POD_CHAIN} ${nftProto(ip)} saddr == ${nftAddr(ip)} ${nftProto(ip)} daddr != ${nftPrefix(ip)} masquerade comment ${comment}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** A transaction deleting the given rules of masq_checks; undefined when there are none. */
export function podDeleteScript(handles: number[]): string | undefined {
  return handles.length ? `${handles.map((h) => `delete rule ${POD_TABLE} ${POD_CHAIN} handle ${h}`).join('\n')}\n` : undefined;
}

/** The rules of masq_checks; none when the table or chain is not there (Go's findRules). */
export function podRules(): NftRule[] {
  return nftList(['chain', ...POD_TABLE.split(' '), POD_CHAIN])?.rules ?? [];
}

/** Rules of one attachment: Go's DEL matches by the comment's hash prefix. */
export const attachmentRules = (rules: NftRule[], net: string, ifName: string, id: string): NftRule[] => rules.filter((r) => r.comment?.startsWith(hashForInstance(net, ifName, id)));

/** Rules of network `net` whose comment is no valid attachment's (Go's GC). */
export function staleNetworkRules(rules: NftRule[], net: string, valid: Array<{ containerId: string; ifName: string }>): NftRule[] {
  const keep = new Set(valid.map((v) => commentForInstance(net, v.ifName, v.containerId)));
  const prefix = hashForNetwork(net);
  return rules.filter((r) => r.comment?.startsWith(prefix) && !keep.has(r.comment));
}

export const nftablesPodMasq: PodMasq = {
  async setup(a: PodMasqAttachment): Promise<void> {
    // The listing is read now (handles of stale rules must be in the
    // transaction); the transaction itself runs while the caller goes on.
    const stale = attachmentRules(podRules(), a.network, a.ifName, a.containerId).map((r) => r.handle);
    try {
      await nftApplyAsync(podSetupScript(a, stale));
    } catch (e) {
      // Kernels before 5.10 keep no table or chain comments; knftables then leaves them out.
      try {
        nftApply(podSetupScript(a, stale, false));
      } catch {
        throw e;
      }
    }
  },
  teardown(a): void {
    deleteRules(() => attachmentRules(podRules(), a.network, a.ifName, a.containerId));
  },
  gc(network, valid): void {
    deleteRules(() => staleNetworkRules(podRules(), network, valid));
  },
};

/**
 * Deletes the rules `pick` finds, by handle, in one transaction. A concurrent
 * DEL or GC may delete one first, which fails the whole transaction: then the
 * chain is read again and what is still there is deleted.
 */
function deleteRules(pick: () => NftRule[]): void {
  const script = podDeleteScript(pick().map((r) => r.handle));
  if (!script) return;
  try {
    nftApply(script);
  } catch {
    const again = podDeleteScript(pick().map((r) => r.handle));
    if (again) nftApply(again);
  }
}
