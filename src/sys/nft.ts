// The `nft` CLI: one transaction per call (`nft -f -`, which the kernel
// applies atomically or not at all) and JSON listings read into typed objects.
// Statements are printed by the callers from typed values with the helpers
// here; nothing from outside reaches nft's input unchecked.
import { type Addr, type Cidr, formatCidr, formatIp, networkOf, parseIp } from '../net/cidr.ts';
import { ExecError, type RunResult, run, start, startPiped } from './exec.ts';
import { missingCommand } from './masq-detect.ts';

/** nftables keeps at most 128 bytes of a rule comment (knftables.CommentLengthMax). */
export const NFT_COMMENT_MAX = 128;

/** An address as an nft value. */
export const nftAddr = (a: Addr): string => formatIp(a);
/** A prefix as an nft value: its network, as `ip daddr != 10.0.0.0/24` wants it. */
export const nftPrefix = (c: Cidr): string => formatCidr(networkOf(c));
/** `ip` or `ip6`: the payload protocol of a family. */
export const nftProto = (a: Addr): 'ip' | 'ip6' => (a.family === 4 ? 'ip' : 'ip6');

/** Whether nft can carry `ch` inside a quoted string: its scanner takes everything up to the next `"` literally, with no escapes. */
function carried(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return ch !== '"' && ch !== '\\' && c >= 0x20 && !(c >= 0x7f && c <= 0x9f);
}

/**
 * A quoted nft string. A quote, a backslash (which Go's %q would double and
 * nft would keep doubled) or a control character cannot be carried: callers
 * replace them first (nftSafe); this refuses what is left rather than print it.
 */
export function nftString(s: string): string {
  if (![...s].every(carried)) throw new Error(`internal: ${JSON.stringify(s)} cannot be an nft string`);
  return `"${s}"`;
}

/** `s` with every character nft cannot carry in a string replaced by `?`. */
export const nftSafe = (s: string): string => [...s].map((ch) => (carried(ch) ? ch : '?')).join('');

/** The longest prefix of `s` within `max` UTF-8 bytes, never splitting a character. */
export function cutUtf8(s: string, max: number): string {
  let n = 0;
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (n > max) break;
    out += ch;
  }
  return out;
}

/** Why `nft` failed: the table or chain asked for is not there (not an error for a reader). */
export const isNoSuchObject = (r: RunResult): boolean => r.exitCode !== 0 && /No such file or directory/.test(r.stderr);

/** Runs one transaction; throws ExecError when nft refuses it (nothing of it is applied). */
export function nftApply(script: string): void {
  const argv = ['nft', '-f', '-'];
  const r = run(argv, script);
  if (r.exitCode !== 0) throw new ExecError(argv, r);
}

/** As nftApply, started now and collected when awaited. */
export async function nftApplyAsync(script: string): Promise<void> {
  const argv = ['nft', '-f', '-'];
  const r = await start(argv, script);
  if (r.exitCode !== 0) throw new ExecError(argv, r);
}

/** Runs one transaction given as nft's JSON (`nft -j -f -`): every value is a JSON string, so nothing needs quoting. */
export function nftApplyJson(commands: readonly object[]): void {
  const argv = ['nft', '-j', '-f', '-'];
  const r = run(argv, JSON.stringify({ nftables: commands }));
  if (r.exitCode !== 0) throw new ExecError(argv, r);
}

/** As nftApplyJson, started now and collected when awaited. */
export async function nftApplyJsonAsync(commands: readonly object[]): Promise<void> {
  const argv = ['nft', '-j', '-f', '-'];
  const r = await start(argv, JSON.stringify({ nftables: commands }));
  if (r.exitCode !== 0) throw new ExecError(argv, r);
}

/** One object of `nft -j list`: the kind and its fields. */
export interface NftRule {
  chain: string;
  handle: number;
  comment?: string;
  expr: unknown[];
}
export interface NftChain {
  name: string;
  type?: string;
  hook?: string;
  prio?: number;
}
export interface NftSet {
  name: string;
  type?: string;
  /** Elements as inclusive [first, last] address ranges; undefined when nft printed one we cannot read. */
  elems: Array<[Addr, Addr]> | undefined;
}
export interface NftListing {
  chains: NftChain[];
  sets: NftSet[];
  rules: NftRule[];
}

/**
 * Reads `nft -j list <what…>`; undefined when the object does not exist (or
 * nft is not installed: then nothing of ours can exist either). Throws when
 * nft fails otherwise or prints something that is not its JSON schema 1.
 */
export function nftList(what: string[]): NftListing | undefined {
  return nftListLater(what)();
}

/** As nftList, with nft started now: the returned function waits for it (its run overlaps the caller's work). */
export function nftListLater(what: string[]): () => NftListing | undefined {
  const argv = ['nft', '-j', 'list', ...what];
  const pending = startPiped(argv);
  return () => {
    const r = pending.finish();
    if (isNoSuchObject(r) || missingCommand(r, 'nft')) return undefined;
    if (r.exitCode !== 0) throw new ExecError(argv, r);
    return parseNftJson(r.stdout, argv.join(' '));
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON of `nft -j list …` into typed objects; rules of other shapes keep their raw expressions. */
export function parseNftJson(text: string, what = 'nft -j list'): NftListing {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${what}: output is not JSON`);
  }
  const items = isRecord(doc) && Array.isArray(doc.nftables) ? doc.nftables : undefined;
  const meta = items && isRecord(items[0]) && isRecord(items[0].metainfo) ? items[0].metainfo : undefined;
  if (!meta || meta.json_schema_version !== 1) throw new Error(`${what}: not nft's JSON schema 1`);
  const out: NftListing = { chains: [], sets: [], rules: [] };
  for (const item of items!.slice(1)) {
    if (!isRecord(item)) continue;
    const { chain, set, rule } = item;
    if (isRecord(chain) && typeof chain.name === 'string') {
      out.chains.push({ name: chain.name, ...(typeof chain.type === 'string' ? { type: chain.type } : {}), ...(typeof chain.hook === 'string' ? { hook: chain.hook } : {}), ...(typeof chain.prio === 'number' ? { prio: chain.prio } : {}) });
    } else if (isRecord(set) && typeof set.name === 'string') {
      out.sets.push({ name: set.name, ...(typeof set.type === 'string' ? { type: set.type } : {}), elems: setElems(set.elem) });
    } else if (isRecord(rule) && typeof rule.chain === 'string' && typeof rule.handle === 'number') {
      out.rules.push({ chain: rule.chain, handle: rule.handle, ...(typeof rule.comment === 'string' ? { comment: rule.comment } : {}), expr: Array.isArray(rule.expr) ? rule.expr : [] });
    }
  }
  return out;
}

/** A set's elements (an address, {prefix}, {range}, or {elem: {val}}) as ranges. */
function setElems(raw: unknown): Array<[Addr, Addr]> | undefined {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return undefined;
  const out: Array<[Addr, Addr]> = [];
  for (let e of raw) {
    if (isRecord(e) && isRecord(e.elem)) e = e.elem.val;
    if (typeof e === 'string') {
      const a = parseIp(e);
      if (!a) return undefined;
      out.push([a, a]);
    } else if (isRecord(e) && isRecord(e.prefix) && typeof e.prefix.addr === 'string' && typeof e.prefix.len === 'number') {
      const a = parseIp(e.prefix.addr);
      if (!a) return undefined;
      const host = (1n << BigInt((a.family === 4 ? 32 : 128) - e.prefix.len)) - 1n;
      out.push([{ family: a.family, value: a.value & ~host }, { family: a.family, value: a.value | host }]);
    } else if (isRecord(e) && Array.isArray(e.range) && typeof e.range[0] === 'string' && typeof e.range[1] === 'string') {
      const [a, b] = [parseIp(e.range[0]), parseIp(e.range[1])];
      if (!a || !b) return undefined;
      out.push([a, b]);
    } else {
      return undefined;
    }
  }
  return out;
}
