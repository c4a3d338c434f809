// Nodes as the agent sees them, read from Kubernetes v1.Node objects (from the
// API or a file holding `kubectl get nodes -o json`). Pure.
import { isObject } from '../cni/json.ts';

export interface NodeInfo {
  name: string;
  podCIDRs: string[];
  internalIPs: string[];
}

/** A v1.Node into NodeInfo; undefined when the object is not a Node at all. */
export function fromV1Node(obj: unknown): NodeInfo | undefined {
  if (!isObject(obj) || !isObject(obj.metadata) || typeof obj.metadata.name !== 'string') return undefined;
  const spec = isObject(obj.spec) ? obj.spec : {};
  const status = isObject(obj.status) ? obj.status : {};
  let podCIDRs = Array.isArray(spec.podCIDRs) ? spec.podCIDRs.filter((c): c is string => typeof c === 'string') : [];
  if (podCIDRs.length === 0 && typeof spec.podCIDR === 'string' && spec.podCIDR) podCIDRs = [spec.podCIDR];
  const addresses = Array.isArray(status.addresses) ? status.addresses : [];
  const internalIPs = addresses.filter((a) => isObject(a) && a.type === 'InternalIP' && typeof a.address === 'string').map((a) => (a as { address: string }).address);
  return { name: obj.metadata.name, podCIDRs, internalIPs };
}

/** A v1.NodeList (or a bare list of Nodes) into NodeInfo[]; objects that are not Nodes are dropped. */
export function fromNodeList(doc: unknown): NodeInfo[] {
  const items = Array.isArray(doc) ? doc : isObject(doc) && Array.isArray(doc.items) ? doc.items : [];
  return items.map(fromV1Node).filter((n): n is NodeInfo => n !== undefined);
}
