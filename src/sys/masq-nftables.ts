// Per-pod masquerade (`ipMasq`) in nftables, in the Go bridge plugin's layout
// (pkg/ip/ipmasq_nftables_linux.go, plugins v1.6+): table inet
// cni_plugins_masquerade, one rule per pod address in chain masq_checks whose
// comment starts with a hash of network, ifname and container ID. The same
// names, comments and hashes mean DEL and GC by either plugin find the other's
// rules. Each change is one `nft -f -` transaction printed from typed values.
import { createHash } from 'node:crypto';
import type { PodMasq, PodMasqAttachment } from './kernel.ts';
import { cutUtf8, NFT_COMMENT_MAX, nftAddr, nftApply, nftApplyAsync, nftListLater, nftPrefix, type NftListing, nftProto, type NftRule, nftSafe, nftString } from './nft.ts';

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
 * `full` false leaves out the table, chains and postrouting, for a table that
 * is already exactly what they make: touching a base chain makes the commit
 * wait for the kernel (~15 ms), adding a rule to masq_checks does not.
 */
export function podSetupScript(a: PodMasqAttachment, stale: number[], opts: { full?: boolean; objectComments?: boolean } = {}): string {
  const T = POD_TABLE;
  const { full = true, objectComments = true } = opts;
  const comment = nftString(commentForInstance(a.network, a.ifName, a.containerId));
  const head = [
    objectComments ? `add table ${T} { comment ${nftString(TABLE_COMMENT)} ; }` : `add table ${T}`,
    objectComments ? `add chain ${T} ${POD_CHAIN} { comment ${nftString(CHAIN_COMMENT)} ; }` : `add chain ${T} ${POD_CHAIN}`,
    `add chain ${T} postrouting { type nat hook postrouting priority 100 ; }`,
    `flush chain ${T} postrouting`,
    // Two spaces, as knftables prints them: the whole script is byte for byte Go's.
    `add rule ${T} postrouting ip daddr == 224.0.0.0/4  return`,
    `add rule ${T} postrouting ip6 daddr == ff00::/8  return`,
    `add rule ${T} postrouting goto ${POD_CHAIN}`,
  ];
  const lines = [
    ...(full ? head : []),
    ...stale.map((h) => `delete rule ${T} ${POD_CHAIN} handle ${h}`),
    ...a.addresses.map((ip) => `add rule ${T} ${POD_CHAIN} ${nftProto(ip)} saddr == ${nftAddr(ip)} ${nftProto(ip)} daddr != ${nftPrefix(ip)} masquerade comment ${comment}`),
  ];
  return `${lines.join('\n')}\n`;
}

// postrouting's rules as `nft -j` prints what Go's setup adds.
const GO_POSTROUTING = [
  [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '224.0.0.0', len: 4 } } } }, { return: null }],
  [{ match: { op: '==', left: { payload: { protocol: 'ip6', field: 'daddr' } }, right: { prefix: { addr: 'ff00::', len: 8 } } } }, { return: null }],
  [{ goto: { target: POD_CHAIN } }],
].map((e) => JSON.stringify(e));

/** Whether the listed table is already what Go's setup makes of it, but for masq_checks' rules. */
export function podTableReady(t: NftListing): boolean {
  const post = t.chains.find((c) => c.name === 'postrouting');
  const rules = t.rules.filter((r) => r.chain === 'postrouting').map((r) => JSON.stringify(r.expr));
  return t.chains.some((c) => c.name === POD_CHAIN && !c.hook) && post?.type === 'nat' && post.hook === 'postrouting' && post.prio === 100 && rules.join('\n') === GO_POSTROUTING.join('\n');
}

/** A transaction deleting the given rules of masq_checks; undefined when there are none. */
export function podDeleteScript(handles: number[]): string | undefined {
  return handles.length ? `${handles.map((h) => `delete rule ${POD_TABLE} ${POD_CHAIN} handle ${h}`).join('\n')}\n` : undefined;
}

/** The table as read: masq_checks' rules (none when the table or chain is not there: Go's findRules), and whether the rest is Go's already. */
export interface PodTable {
  rules: NftRule[];
  ready: boolean;
}

/** Reads the table now; the returned function waits for it. */
export function readPodTable(): () => PodTable {
  const pending = nftListLater(['table', ...POD_TABLE.split(' ')]);
  return () => {
    const t = pending();
    return { rules: t?.rules.filter((r) => r.chain === POD_CHAIN) ?? [], ready: t !== undefined && podTableReady(t) };
  };
}

export const podRules = (): NftRule[] => readPodTable()().rules;

/** Rules of one attachment: Go's DEL matches by the comment's hash prefix. */
export function attachmentRules(rules: NftRule[], net: string, ifName: string, id: string): NftRule[] {
  const prefix = hashForInstance(net, ifName, id);
  return rules.filter((r) => r.comment?.startsWith(prefix));
}

/** Rules of network `net` whose comment is no valid attachment's (Go's GC). */
export function staleNetworkRules(rules: NftRule[], net: string, valid: Array<{ containerId: string; ifName: string }>): NftRule[] {
  const keep = new Set(valid.map((v) => commentForInstance(net, v.ifName, v.containerId)));
  const prefix = hashForNetwork(net);
  return rules.filter((r) => r.comment?.startsWith(prefix) && !keep.has(r.comment));
}

export const nftablesPodMasq: PodMasq = {
  async setup(a: PodMasqAttachment): Promise<void> {
    // The table is read now (handles of stale rules must be in the
    // transaction); the transaction itself runs while the caller goes on.
    const stale = (t: PodTable): number[] => attachmentRules(t.rules, a.network, a.ifName, a.containerId).map((r) => r.handle);
    const t = readPodTable()();
    try {
      await nftApplyAsync(podSetupScript(a, stale(t), { full: !t.ready }));
    } catch (e) {
      // The table changed since it was read (read it again), or the kernel
      // (before 5.10) keeps no table or chain comments: knftables then leaves them out.
      const again = stale(readPodTable()());
      for (const objectComments of [true, false]) {
        try {
          nftApply(podSetupScript(a, again, { objectComments }));
          return;
        } catch {
          // next way, else the first error
        }
      }
      throw e;
    }
  },
  teardown: (a) => teardownWith(readPodTable(), a),
  gc: (network, valid) => gcWith(readPodTable(), network, valid),
};

/** DEL with the table read already (readPodTable), so the read overlaps other work. */
export function teardownWith(table: () => PodTable, a: Omit<PodMasqAttachment, 'addresses'>): void {
  const pick = (l: NftRule[]): NftRule[] => attachmentRules(l, a.network, a.ifName, a.containerId);
  deleteRules(pick(table().rules), () => pick(podRules()));
}

/** GC with the table read already (readPodTable). */
export function gcWith(table: () => PodTable, network: string, valid: Array<{ containerId: string; ifName: string }>): void {
  const pick = (l: NftRule[]): NftRule[] => staleNetworkRules(l, network, valid);
  deleteRules(pick(table().rules), () => pick(podRules()));
}

/**
 * Deletes `found` by handle in one transaction. A concurrent DEL or GC may
 * delete one first, which fails the whole transaction: then the chain is read
 * `again` and what is still there is deleted.
 */
function deleteRules(found: NftRule[], again: () => NftRule[]): void {
  const script = podDeleteScript(found.map((r) => r.handle));
  if (!script) return;
  try {
    nftApply(script);
  } catch {
    const retry = podDeleteScript(again().map((r) => r.handle));
    if (retry) nftApply(retry);
  }
}
