// Validation of the runtime-supplied identifiers and the CNI_ARGS string,
// ported rule for rule from containernetworking/cni pkg/utils and pkg/types/args.go.
import { CniError, ErrorCode } from './errors.ts';

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// Go sets no bound; ours keeps a container ID usable as a file name (NAME_MAX 255)
// inside the IPAM store and in iptables comments.
const MAX_ID_LEN = 253;

export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(ErrorCode.UnknownContainer, 'missing containerID');
  if (id.length > MAX_ID_LEN) throw new CniError(ErrorCode.InvalidEnvironmentVariables, `containerID is ${id.length} characters long; flatnet takes at most ${MAX_ID_LEN}`, `${id.slice(0, 64)}…`);
  if (!ID_RE.test(id)) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, 'invalid characters in containerID', id.length > 64 ? `${id.slice(0, 64)}…` : id);
  }
}

export function validateNetworkName(name: string): void {
  if (name === '') throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  if (name.length > MAX_ID_LEN) throw new CniError(ErrorCode.InvalidNetworkConfig, `network name is ${name.length} characters long; flatnet takes at most ${MAX_ID_LEN}`, `${name.slice(0, 64)}…`);
  if (!ID_RE.test(name)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid characters found in network name', name.length > 64 ? `${name.slice(0, 64)}…` : name);
  }
}

/**
 * Parses CNI_ARGS ("K=V;K2=V2") strictly, as Go's types.LoadArgs: every pair
 * needs exactly one '=', keys are case-sensitive, and a key outside `known`
 * is an error unless IgnoreUnknown=1|true is present.
 */
export function parseCniArgs(raw: string, known: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  const pairs = raw.split(';');
  const unknown: string[] = [];
  let ignoreUnknown = false;
  for (const pair of pairs) {
    const kv = pair.split('=');
    if (kv.length !== 2) {
      throw new CniError(ErrorCode.InvalidEnvironmentVariables, `ARGS: invalid pair "${pair}"`, 'CNI_ARGS must be K=V pairs separated by ";", with no "=" inside values and no trailing ";"');
    }
    const [k, v] = kv as [string, string];
    if (k === 'IgnoreUnknown') {
      ignoreUnknown = /^(1|true)$/i.test(v);
      continue;
    }
    if (known.includes(k)) out.set(k, v);
    else unknown.push(pair);
  }
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, `ARGS: unknown args ${JSON.stringify(unknown)}`, 'add IgnoreUnknown=1 to CNI_ARGS to pass keys this plugin does not use');
  }
  return out;
}
