import type { IfName } from '../net/names.ts';

// Result types in the newest spec shape (1.1.0). Results are built in this
// shape and converted to the caller's cniVersion only at the edge (version.ts).

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  interface?: number;
  address: string; // CIDR, host bits kept: 10.1.0.5/24
  gateway?: string;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

/** What skel hands to a verb handler: the environment and stdin of one call. */
export interface CmdArgs {
  command: string;
  containerId: string;
  netns: string;
  /** Validated (names.ts) for ADD, CHECK and DEL; empty for the other verbs. */
  ifName: IfName;
  args: string;
  path: string;
  stdin: string;
  env: NodeJS.ProcessEnv;
}

/** The keys every plugin config carries (SPEC §"Network configuration"). */
export interface NetConfBase {
  cniVersion: string;
  name: string;
  type?: string;
  ipam?: Record<string, unknown> & { type?: string };
  dns?: DNS;
  runtimeConfig?: Record<string, unknown>;
  args?: Record<string, unknown>;
  prevResult?: unknown;
  [key: string]: unknown;
}

/**
 * One entry of a GC request's `cni.dev/valid-attachments` (on the wire
 * {containerID, ifname}): an attachment the runtime still uses, in the
 * names the rest of the code uses for a container and an interface.
 */
export interface ValidAttachment {
  containerId: string;
  ifName: string;
}
