// The usual test bed of a describe block: a node namespace, a pod namespace
// and a temp directory, made before its tests and removed after them.
import { afterAll, beforeAll } from 'vitest';
import { createNetns, deleteAllNetns, type Netns } from './netns.ts';
import { tempDir } from './plugin.ts';

export interface Bed {
  node: Netns;
  pod: Netns;
  data: ReturnType<typeof tempDir>;
}

export function useBed(prefix: string): Bed {
  const bed = {} as Bed;
  beforeAll(async () => {
    bed.node = await createNetns('node');
    bed.pod = await createNetns('pod');
    bed.data = tempDir(prefix);
  });
  afterAll(async () => {
    await deleteAllNetns();
    bed.data?.remove();
  });
  return bed;
}
