// The bridge plugin's `macspoofchk` in the Go plugin's nftables layout
// (pkg/link/spoofcheck.go, the same from 1.1.1 to 1.9): table `bridge nat`,
// base chain PREROUTING (filter, prerouting, priority -300, policy accept),
// and per attachment (refID `<containerID>-<ifname>`) a rule in PREROUTING
// sending frames from the host veth to chain `cni-br-iface-<refID>`, which
// jumps to `cni-br-iface-<refID>-mac`, which returns for the pod's MAC and
// drops the rest; every rule's comment is `macspoofchk-<refID>`. The same
// names and comments mean a pod made by either plugin is removed by the
// other's DEL. The table and base chain stay, as Go leaves them.
//
// Written as nft's JSON (as Go's go-nft does): chain names hold the ifname,
// which may hold characters nft's text syntax cannot carry in a chain name.
// Every command is a typed value serialised by JSON.stringify.
import { ExecError } from './exec.ts';
import type { MacSpoofAttachment, MacSpoofCheck } from './kernel.ts';
import { nftApplyJson, nftApplyJsonAsync, nftListLater, type NftListing, type NftRule } from './nft.ts';

const FAMILY = 'bridge';
const TABLE = 'nat';
export const PREROUTING = 'PREROUTING';

export const refIdOf = (containerId: string, ifName: string): string => `${containerId}-${ifName}`;
export const ifaceChain = (refId: string): string => `cni-br-iface-${refId}`;
export const macChain = (refId: string): string => `${ifaceChain(refId)}-mac`;
export const ruleComment = (refId: string): string => `macspoofchk-${refId}`;

/**
 * The longest refID nft takes: its comment is kept in the rule's user data
 * (nft 1.0.6 takes 211 bytes of comment through JSON, aborting beyond), and
 * the mac chain's name must fit the kernel's 255 bytes. Go fails beyond it
 * too, after making the veth.
 */
export const REF_ID_MAX = 199;

// nft's JSON schema, the parts used here.
type Obj = { family: typeof FAMILY; table: typeof TABLE };
type ChainObj = Obj & { name: string; type?: 'filter'; hook?: 'prerouting'; prio?: number; policy?: 'accept' };
type Expr =
  | { match: { op: '=='; left: { meta: { key: 'iifname' } } | { payload: { protocol: 'ether'; field: 'saddr' } }; right: string } }
  | { jump: { target: string } }
  | { return: null }
  | { drop: null };
type RuleObj = Obj & { chain: string; expr: Expr[]; comment: string };
export type NftJsonCommand =
  | { add: { table: { family: typeof FAMILY; name: typeof TABLE } } }
  | { add: { chain: ChainObj } }
  | { flush: { chain: ChainObj } }
  | { delete: { chain: ChainObj } }
  | { add: { rule: RuleObj } }
  | { delete: { rule: Obj & { chain: string; handle: number } } };

const at: Obj = { family: FAMILY, table: TABLE };
const chain = (name: string): ChainObj => ({ ...at, name });
const iifJump = (a: MacSpoofAttachment): Expr[] => [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: a.hostVeth } }, { jump: { target: ifaceChain(a.refId) } }];
const macReturn = (a: MacSpoofAttachment): Expr[] => [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: a.mac } }, { return: null }];

/**
 * Go's Setup as one transaction (Go makes two: the table and chains, then the
 * rules; one is atomic, so a failed ADD leaves no half): the attachment's
 * chains are flushed first, so a repeated setup does not stack rules in them.
 */
export function spoofSetupCommands(a: MacSpoofAttachment): NftJsonCommand[] {
  const comment = ruleComment(a.refId);
  const rule = (c: string, expr: Expr[]): NftJsonCommand => ({ add: { rule: { ...at, chain: c, expr, comment } } });
  return [
    { add: { table: { family: FAMILY, name: TABLE } } },
    { add: { chain: { ...chain(PREROUTING), type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
    { add: { chain: chain(ifaceChain(a.refId)) } },
    { add: { chain: chain(macChain(a.refId)) } },
    { flush: { chain: chain(ifaceChain(a.refId)) } },
    { flush: { chain: chain(macChain(a.refId)) } },
    rule(PREROUTING, iifJump(a)),
    rule(ifaceChain(a.refId), [{ jump: { target: macChain(a.refId) } }]),
    rule(macChain(a.refId), macReturn(a)),
    rule(macChain(a.refId), [{ drop: null }]),
  ];
}

/**
 * Go's Teardown, from a listing of the table: PREROUTING's rules with the
 * attachment's comment, then its two chains (the iface chain first: it jumps
 * to the mac chain). Only what the listing holds, so a teardown that finds
 * nothing is no error. Empty when there is nothing to remove.
 */
export function spoofTeardownCommands(t: NftListing | undefined, refId: string): NftJsonCommand[] {
  if (!t) return [];
  const comment = ruleComment(refId);
  const rules = t.rules.filter((r) => r.chain === PREROUTING && r.comment === comment);
  const chains = [ifaceChain(refId), macChain(refId)].filter((n) => t.chains.some((c) => c.name === n));
  return [
    ...rules.map((r): NftJsonCommand => ({ delete: { rule: { ...at, chain: PREROUTING, handle: r.handle } } })),
    ...chains.map((n): NftJsonCommand => ({ flush: { chain: chain(n) } })),
    ...chains.map((n): NftJsonCommand => ({ delete: { chain: chain(n) } })),
  ];
}

const same = (r: NftRule, expr: Expr[]): boolean => JSON.stringify(r.expr) === JSON.stringify(expr);

/** What is wrong with the attachment's rules in the listing (CHECK), or undefined when they are Go's. */
export function spoofProblem(t: NftListing | undefined, a: MacSpoofAttachment): string | undefined {
  if (!t) return 'nftables table bridge nat is missing';
  const comment = ruleComment(a.refId);
  const mine = (c: string): NftRule[] => t.rules.filter((r) => r.chain === c && r.comment === comment);
  if (!mine(PREROUTING).some((r) => same(r, iifJump(a)))) return `no rule in bridge nat ${PREROUTING} sends ${a.hostVeth} to ${ifaceChain(a.refId)}`;
  if (!mine(ifaceChain(a.refId)).some((r) => same(r, [{ jump: { target: macChain(a.refId) } }]))) return `chain ${ifaceChain(a.refId)} does not jump to ${macChain(a.refId)}`;
  const macRules = mine(macChain(a.refId));
  if (!macRules.some((r) => same(r, macReturn(a))) || !same(macRules[macRules.length - 1]!, [{ drop: null }])) return `chain ${macChain(a.refId)} does not pass only ${a.mac}`;
  return undefined;
}

const listTable = (): (() => NftListing | undefined) => nftListLater(['table', FAMILY, TABLE]);

export const nftMacSpoofCheck: MacSpoofCheck = {
  async setup(a) {
    await nftApplyJsonAsync(spoofSetupCommands(a));
  },
  teardown(refId) {
    const cmds = spoofTeardownCommands(listTable()(), refId);
    if (!cmds.length) return;
    try {
      nftApplyJson(cmds);
    } catch (e) {
      // A concurrent teardown of the same attachment took something first: read again.
      if (!(e instanceof ExecError)) throw e;
      const again = spoofTeardownCommands(listTable()(), refId);
      if (again.length) nftApplyJson(again);
    }
  },
  problem: (a) => spoofProblem(listTable()(), a),
};
