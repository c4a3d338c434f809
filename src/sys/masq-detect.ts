// Which masquerade backend a node can use, decided as the Go plugins decide
// (pkg/utils/netfilter.go), so flatnet and the Go bridge plugin pick the same
// one on one node: iptables, unless iptables is unusable and nftables usable.
import { commandNotFound, type RunResult } from '../platform/types.ts';
import { run } from './exec.ts';
import { which } from './which.ts';

export type MasqBackend = 'iptables' | 'nftables';

/** Whether `name` is a file in a directory of PATH, as Go's exec.LookPath finds it: no process started. */
export const onPath = (name: string, path = process.env.PATH ?? ''): boolean => which(name, path) !== undefined;

/** The result either platform gives for a program that is not installed. */
export const missingCommand = (r: RunResult, file: string): boolean => r.exitCode === 127 && r.stderr === commandNotFound(file).stderr;

/**
 * Go's SupportsIPTables: an `iptables` client (legacy or nft) is installed and
 * answers a listing of the filter table's INPUT chain. Exit status 1 is an
 * answer ("no such chain"); anything else (no permission, no kernel support)
 * is not.
 */
export function iptablesUsable(): boolean {
  if (!onPath('iptables')) return false;
  const r = run(['iptables', '-t', 'filter', '-S', 'INPUT', '1', '--wait']);
  return r.exitCode === 0 || r.exitCode === 1;
}

/**
 * Go's SupportsNFTables (knftables.New): `nft` is installed, is 1.0.1 or
 * later, and would be allowed to add a table (checked with --check, which
 * changes nothing).
 */
export function nftablesUsable(): boolean {
  if (!onPath('nft')) return false;
  const v = run(['nft', '--version']);
  if (v.exitCode !== 0 || /^nftables v(0\.|1\.0\.0 )/.test(v.stdout)) return false;
  const check = (s: string): boolean => run(['nft', '--check', '-f', '-'], s).exitCode === 0;
  // knftables retries without the comment for kernels that cannot keep one.
  return check('add table ip supports_nftables_test { comment "test" ; }\n') || check('add table ip supports_nftables_test\n');
}

/** The backend the Go bridge plugin takes when `ipMasqBackend` is unset. */
export function defaultBackend(usable = { iptables: iptablesUsable, nftables: nftablesUsable }): MasqBackend {
  return !usable.iptables() && usable.nftables() ? 'nftables' : 'iptables';
}
