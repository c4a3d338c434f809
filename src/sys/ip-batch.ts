// Prints LinkOps as `ip -batch` lines. The only place that writes `ip`
// command text, from typed values only: addresses and CIDRs are printed from
// their parsed form, numbers are integers, interface names are validated
// (names.ts) and always follow the keyword that makes `ip` read the next word
// as a name (`name`, `dev`, `master`), so a link called "down" or "type" is a
// name and never a keyword. Names are quoted because `ip -batch` splits on
// whitespace and reads quotes; names with '#' never get here.
import { formatCidr, formatIp } from '../net/cidr.ts';
import type { IfName } from '../net/names.ts';
import type { LinkOp, Netns } from './kernel.ts';

/** A name as one `ip -batch` word: quoted with whichever quote it does not contain. */
export function quoteName(n: IfName): string {
  return n.includes('"') ? `'${n}'` : `"${n}"`;
}

const int = (n: number, what: string): string => {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
  return String(n);
};

/** The path under which a child process reaches a namespace this process holds open. */
export const netnsFdPath = (ns: Netns, pid: number): string => `/proc/${int(pid, 'pid')}/fd/${int(ns.fd, 'fd')}`;

/** One op as an `ip -batch` line. `pid` is this process's, for namespaces held by fd. */
export function ipLine(o: LinkOp, pid: number): string {
  const mtu = (m: number | undefined): string => (m ? ` mtu ${int(m, 'mtu')}` : '');
  switch (o.op) {
    case 'bridge-add':
      return `link add name ${quoteName(o.name)}${mtu(o.mtu)} address ${o.mac} type bridge`;
    case 'veth-add':
      return `link add name ${quoteName(o.name)}${mtu(o.mtu)} address ${o.mac} type veth peer name ${quoteName(o.peer)}${mtu(o.mtu)} address ${o.peerMac} netns ${netnsFdPath(o.peerNetns, pid)}`;
    case 'link-set': {
      let l = `link set dev ${quoteName(o.dev)}`;
      if (o.master) l += ` master ${quoteName(o.master)}`;
      if (o.mac) l += ` address ${o.mac}`;
      if (o.promisc !== undefined) l += ` promisc ${o.promisc ? 'on' : 'off'}`;
      if (o.up !== undefined) l += o.up ? ' up' : ' down';
      return l;
    }
    case 'bridge-port': {
      const flag = (k: string, v: boolean | undefined) => (v === undefined ? '' : ` ${k} ${v ? 'on' : 'off'}`);
      return `link set dev ${quoteName(o.dev)} type bridge_slave${flag('hairpin', o.hairpin)}${flag('isolated', o.isolated)}`;
    }
    case 'link-del':
      return `link del dev ${quoteName(o.dev)}`;
    case 'addr-add':
    case 'addr-replace':
    case 'addr-del': {
      // An IPv4 address gets its subnet's broadcast (none for /31 and /32), as Go's netlink gives it.
      const brd = o.op !== 'addr-del' && o.addr.family === 4 ? ' brd +' : '';
      return `addr ${o.op.slice(5)} ${formatCidr(o.addr)}${brd} dev ${quoteName(o.dev)}${o.nodad ? ' nodad' : ''}`;
    }
    case 'route-add':
    case 'route-replace':
    case 'route-prepend': {
      let l = `route ${o.op.slice(6)} ${formatCidr(o.dst)}`;
      if (o.nhid !== undefined) l += ` nhid ${int(o.nhid, 'nhid')}`;
      if (o.via) l += ` via ${formatIp(o.via)}`;
      if (o.dev) l += ` dev ${quoteName(o.dev)}`;
      if (o.proto !== undefined) l += ` proto ${int(o.proto, 'proto')}`;
      if (o.metric !== undefined) l += ` metric ${int(o.metric, 'metric')}`;
      if (o.table !== undefined) l += ` table ${int(o.table, 'table')}`;
      if (o.scope !== undefined) l += ` scope ${int(o.scope, 'scope')}`;
      return l;
    }
    case 'route-del': {
      let l = `route del ${formatCidr(o.dst)}`;
      if (o.proto !== undefined) l += ` proto ${int(o.proto, 'proto')}`;
      if (o.metric !== undefined) l += ` metric ${int(o.metric, 'metric')}`;
      if (o.table !== undefined) l += ` table ${int(o.table, 'table')}`;
      return l;
    }
    case 'nexthop-replace':
      return `nexthop replace id ${int(o.id, 'id')} via ${formatIp(o.via)} dev ${quoteName(o.dev)} proto ${int(o.proto, 'proto')}`;
    case 'nexthop-del':
      return `nexthop del id ${int(o.id, 'id')}`;
  }
}

/**
 * How `ip -batch` reads a line into words (iproute2 utils.c getcmdline +
 * makeargs): '#' to the end of the line is a comment, words split on
 * space/tab/CR/LF, a word starting with a quote runs to the same quote. The
 * tests check every printed line against this model.
 */
export function ipBatchWords(line: string): string[] {
  const hash = line.indexOf('#');
  const s = hash >= 0 ? line.slice(0, hash) : line;
  const words: string[] = [];
  let i = 0;
  const ws = ' \t\r\n';
  while (i < s.length) {
    while (i < s.length && ws.includes(s[i]!)) i++;
    if (i >= s.length) break;
    const q = s[i];
    if (q === '"' || q === "'") {
      const end = s.indexOf(q, i + 1);
      if (end < 0) throw new Error('Unterminated quoted string');
      words.push(s.slice(i + 1, end));
      i = end + 1;
    } else {
      let j = i;
      while (j < s.length && !ws.includes(s[j]!)) j++;
      words.push(s.slice(i, j));
      i = j;
    }
  }
  return words;
}
