// The GC verb's list of attachments that are still valid (SPEC 1.1.0).
import { CniError, ErrorCode } from './errors.ts';
import { getKey, isObject } from './json.ts';
import type { Attachment, NetConfBase } from './types.ts';

/** Parses cni.dev/valid-attachments (or the 1.1.0 tag's cni.dev/attachments; libcni sends both). */
export function validAttachments(conf: NetConfBase): Attachment[] {
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'] ?? [];
  if (!Array.isArray(raw)) throw new CniError(ErrorCode.InvalidNetworkConfig, 'cni.dev/valid-attachments must be a list of {containerID, ifname}');
  return raw.map((a, i) => {
    // Keys as Go decodes them (case-insensitively): "containerId" is containerID.
    const containerID = isObject(a) ? getKey(a, 'containerID') : undefined;
    const ifname = isObject(a) ? getKey(a, 'ifname') : undefined;
    if (typeof containerID !== 'string' || typeof ifname !== 'string') {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `cni.dev/valid-attachments[${i}] must be {"containerID": "...", "ifname": "..."}`);
    }
    return { containerID, ifname };
  });
}
