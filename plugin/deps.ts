// What the verb handlers act through, passed in (never imported), so a
// recording fake can stand in for the kernel and the IPAM in unit tests.
import type { CmdArgs, Result } from '../src/cni/types.ts';
import type { Kernel } from '../src/sys/kernel.ts';

/** The IPAM plugin of a config: its type, and the config's version (results are read in it). */
export interface IpamTarget {
  type: string;
  cniVersion: string;
}

/** Runs one verb of the IPAM plugin with this call's arguments; ADD returns its result. */
export type IpamCall = (command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC', ipam: IpamTarget, args: CmdArgs) => Promise<Result | undefined>;

/**
 * Checks the IPAM's config without allocating, when the IPAM runs in this
 * process: true when it did (the node may then be touched while it
 * allocates); false when it cannot (an exec'd plugin: it must go first).
 */
export type IpamPreflight = (ipam: IpamTarget, args: CmdArgs) => Promise<boolean>;

export interface PluginDeps {
  kernel: Kernel;
  ipam: IpamCall;
  ipamPreflight?: IpamPreflight;
  random: (n: number) => Uint8Array;
  /** Where the agent reports this node's readiness (STATUS). */
  agentStatusFile: string;
}
