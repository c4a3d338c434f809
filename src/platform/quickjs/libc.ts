// src/sys/libc.ts for QuickJS: flock and setns are compiled in (flatnet_sys),
// so the FFI-less fallbacks are never needed.
import * as sys from 'flatnet_sys';
import type { Libc } from '../../sys/libc.ts';

const libc: Libc = { flock: sys.flock, setns: sys.setns };

export const loadLibc = (): Libc => libc;
