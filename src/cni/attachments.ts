// The GC verb's list of attachments that are still valid (SPEC 1.1.0).
import { CniError, ErrorCode } from './errors.ts';
import { getKey, isObject } from './json.ts';
import type { ValidAttachment, NetConfBase } from './types.ts';

// The spec's key, then the 1.1.0 tag's name for it (libcni sends both).
const KEYS = ['cni.dev/valid-attachments', 'cni.dev/attachments'] as const;
const SHAPE = 'a list of {"containerID": "...", "ifname": "..."}';

/**
 * Parses cni.dev/valid-attachments (or cni.dev/attachments). A GC releases
 * everything the list does not name, so a config without the list (a
 * misspelt key, a hand-made request) is refused rather than read as "nothing
 * is alive". null is the empty list: libcni marshals a nil slice so when the
 * runtime has no live attachments.
 */
export function validAttachments(conf: NetConfBase): ValidAttachment[] {
  const values = KEYS.map((k) => getKey(conf, k)).filter((v) => v !== undefined);
  if (values.length === 0) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC without cni.dev/valid-attachments: refusing to release every attachment', `the config of a GC must carry cni.dev/valid-attachments, ${SHAPE} of the live attachments ([] or null when there are none)`);
  }
  const raw = values.find((v) => v !== null) ?? [];
  if (!Array.isArray(raw)) throw new CniError(ErrorCode.InvalidNetworkConfig, `cni.dev/valid-attachments must be ${SHAPE}`, `got ${JSON.stringify(raw).slice(0, 200)}`);
  return raw.map((a, i) => {
    // Keys as Go decodes them (case-insensitively): "containerId" is containerID.
    const containerID = isObject(a) ? getKey(a, 'containerID') : undefined;
    const ifname = isObject(a) ? getKey(a, 'ifname') : undefined;
    if (typeof containerID !== 'string' || typeof ifname !== 'string') {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `cni.dev/valid-attachments[${i}] must be {"containerID": "...", "ifname": "..."}`);
    }
    return { containerId: containerID, ifName: ifname };
  });
}
