// The image archive cache lives in scripts/image-archive.mjs (the Kubernetes
// demo uses it too); this gives the tests its type.
// @ts-expect-error: plain JS module shared with the Kubernetes demo
import { flatnetImageArchive as build } from '../../scripts/image-archive.mjs';

export interface ImageArchive {
  path: string;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
  /** Seconds spent building or hashing. */
  seconds: number;
}

/** The docker-archive for the current dist/bin, building it when the cache has none. */
export const flatnetImageArchive: () => Promise<ImageArchive> = build;
