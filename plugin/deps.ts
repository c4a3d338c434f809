// What the verb handlers act through, passed in (never imported), so a
// recording fake can stand in for the kernel and the IPAM in unit tests.
import type { CmdArgs, NetConfBase, Result } from '../src/cni/types.ts';
import type { Kernel } from '../src/sys/kernel.ts';
import type { IpamVerb } from '../ipam/commands.ts';

/** The IPAM plugin of a config: its type, and the config's version (results are read in it). */
export interface IpamTarget {
  type: string;
  cniVersion: string;
}

/** The IPAM of one call, found and (when it runs in this process) its config parsed once. */
export interface Ipam {
  /** Runs one verb with this call's arguments; ADD returns its result. */
  call(command: IpamVerb, args: CmdArgs): Promise<Result | undefined>;
}

/**
 * Finds the IPAM plugin a config names. Ours runs in-process and its config
 * is parsed (and refused) here, before the node is touched; any other plugin
 * is exec'd as the spec says, and checks its config when it runs.
 */
export type OpenIpam = (target: IpamTarget, conf: NetConfBase, args: CmdArgs) => Promise<Ipam>;

export interface PluginDeps {
  kernel: Kernel;
  ipam: OpenIpam;
  random: (n: number) => Uint8Array;
  /** Where the agent reports this node's readiness (STATUS). */
  agentStatusFile: string;
}
