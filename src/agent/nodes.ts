// Nodes as the agent sees them, read from Kubernetes v1.Node objects (from the
// API or a file holding `kubectl get nodes -o json`). Pure. Addresses and
// CIDRs stay text here: the planner checks them, so that one bad value skips
// one peer with a reason instead of failing the whole list.
import { isObject } from '../cni/json.ts';

export interface NodeInfo {
  name: string;
  podCIDRs: string[];
  internalIPs: string[];
  /**
   * metadata.deletionTimestamp is set: the Node is on its way out, and a
   * replacement may already give its InternalIP (or podCIDR). It never
   * contests a node that is not.
   */
  deleting?: true;
}

/** A v1.Node into NodeInfo; undefined when the object is not a Node at all. */
export function fromV1Node(obj: unknown): NodeInfo | undefined {
  if (!isObject(obj) || !isObject(obj.metadata) || typeof obj.metadata.name !== 'string' || obj.metadata.name === '') return undefined;
  if (obj.kind !== undefined && obj.kind !== 'Node') return undefined;
  const spec = isObject(obj.spec) ? obj.spec : {};
  const status = isObject(obj.status) ? obj.status : {};
  let podCIDRs = Array.isArray(spec.podCIDRs) ? spec.podCIDRs.filter((c): c is string => typeof c === 'string') : [];
  if (podCIDRs.length === 0 && typeof spec.podCIDR === 'string' && spec.podCIDR) podCIDRs = [spec.podCIDR];
  const addresses = Array.isArray(status.addresses) ? status.addresses : [];
  const internalIPs = addresses.filter((a) => isObject(a) && a.type === 'InternalIP' && typeof a.address === 'string').map((a) => (a as { address: string }).address);
  const deleting = typeof obj.metadata.deletionTimestamp === 'string' && obj.metadata.deletionTimestamp !== '';
  return { name: obj.metadata.name, podCIDRs, internalIPs, ...(deleting ? { deleting: true as const } : {}) };
}

/** The node list is not one: the caller keeps the last good list rather than withdrawing every route. */
export class NodeListError extends Error {
  override name = 'NodeListError';
}

/**
 * A v1.NodeList (kind NodeList, or List as `kubectl get nodes -o json`
 * prints it) or a bare JSON array of Nodes into NodeInfo[]. Throws
 * NodeListError for anything else ({}, null, {"items": "x"}), for an item
 * that is not a Node and for a name listed twice: a list that cannot be read
 * whole must not be taken as "these are all the nodes".
 */
export function fromNodeList(doc: unknown): NodeInfo[] {
  let items: unknown[];
  if (Array.isArray(doc)) items = doc;
  else if (isObject(doc) && Array.isArray(doc.items) && (doc.kind === undefined || doc.kind === 'NodeList' || doc.kind === 'List')) items = doc.items;
  else throw new NodeListError(`not a v1.NodeList (want {"kind": "NodeList", "items": [...]}), got ${describe(doc)}`);
  const seen = new Set<string>();
  return items.map((item, i) => {
    const n = fromV1Node(item);
    if (!n) throw new NodeListError(`item ${i} is not a v1.Node with metadata.name: ${describe(item)}`);
    if (seen.has(n.name)) throw new NodeListError(`node ${JSON.stringify(n.name)} is listed twice`);
    seen.add(n.name);
    return n;
  });
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
