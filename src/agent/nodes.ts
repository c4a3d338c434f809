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
  /** The Ready condition's status ('True', 'False', 'Unknown'), when the Node has one. */
  ready?: string;
  /** The Ready condition's lastHeartbeatTime (ms since the epoch), when given: how long ago its kubelet last posted status. */
  heartbeatMs?: number;
}

/**
 * What of a Node routing depends on, as one string: two values that are
 * equal route alike. kubelet's status updates (a new lastHeartbeatTime,
 * images, capacity) leave it unchanged, so they cost no sync. The heartbeat
 * time itself is left out on purpose: whether it is stale is a matter of the
 * clock, which the periodic resync looks at.
 */
export function routingKey(n: NodeInfo): string {
  return JSON.stringify([n.name, n.podCIDRs, n.internalIPs, n.deleting === true, n.ready === 'Unknown']);
}

/** One page of a node list: its Nodes reduced, the version to watch from, and the token for the next page. */
export interface NodePage {
  nodes: NodeInfo[];
  resourceVersion: string;
  continue?: string;
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
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const readyCond = conditions.find((c) => isObject(c) && c.type === 'Ready');
  const ready = isObject(readyCond) && typeof readyCond.status === 'string' ? readyCond.status : undefined;
  const beat = isObject(readyCond) && typeof readyCond.lastHeartbeatTime === 'string' ? Date.parse(readyCond.lastHeartbeatTime) : NaN;
  return {
    name: obj.metadata.name,
    podCIDRs,
    internalIPs,
    ...(deleting ? { deleting: true as const } : {}),
    ...(ready !== undefined ? { ready } : {}),
    ...(Number.isFinite(beat) ? { heartbeatMs: beat } : {}),
  };
}

/**
 * A parsed list page (v1.NodeList) into a NodePage. Throws NodeListError
 * as fromNodeList does, and when there is no resourceVersion to watch from.
 */
export function pageOf(doc: unknown): NodePage {
  const nodes = fromNodeList(doc);
  const meta = isObject(doc) && isObject(doc.metadata) ? doc.metadata : {};
  return pageMeta(nodes, meta);
}

/** The page's metadata (resourceVersion, continue) beside its nodes; throws NodeListError without a resourceVersion. */
export function pageMeta(nodes: NodeInfo[], meta: Record<string, unknown>): NodePage {
  const rv = meta.resourceVersion;
  if (typeof rv !== 'string' || rv === '') throw new NodeListError('node list has no metadata.resourceVersion to watch from');
  const cont = typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined;
  return { nodes, resourceVersion: rv, ...(cont ? { continue: cont } : {}) };
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
