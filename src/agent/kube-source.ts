// Kubernetes node source: list+watch of v1.Node through @kubernetes/client-node's
// informer (it relists on watch expiry and keeps a cache), feeding the same
// sync as the file source. Loaded only when the agent runs against an API.
import { log } from '../log.ts';
import { fromV1Node, type NodeInfo } from './nodes.ts';

export interface NodeSink {
  sync(nodes: NodeInfo[]): Promise<unknown>;
}

export interface KubeSourceOptions {
  /** Path of a kubeconfig; in-cluster service account config when absent. */
  kubeconfig?: string;
  resyncSeconds: number;
  /** Coalesces bursts of events (a node list change touches many nodes at once). */
  debounceMs?: number;
}

export async function runFromKube(sink: NodeSink, opts: KubeSourceOptions, signal: AbortSignal): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromCluster();
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => api.listNode());

  let timer: NodeJS.Timeout | undefined;
  // Until a list has succeeded the cache is empty, and syncing it would
  // withdraw every peer route because the API was unreachable.
  let listed = false;
  informer.on('connect', () => {
    listed = true;
    schedule('connected');
  });
  const syncNow = async (why: string): Promise<void> => {
    if (!listed) return;
    const nodes = informer.list().map(fromV1Node).filter((n): n is NodeInfo => n !== undefined);
    try {
      await sink.sync(nodes);
    } catch (e) {
      await log('error', { why }, `sync failed: ${(e as Error).message}`);
    }
  };
  function schedule(why: string): void {
    clearTimeout(timer);
    timer = setTimeout(() => void syncNow(why), opts.debounceMs ?? 100);
  }
  for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, () => schedule(ev));
  informer.on('error', (err: unknown) => {
    void log('warn', {}, `node watch failed, restarting in 2s: ${String((err as Error)?.message ?? err)}`);
    setTimeout(() => {
      if (!signal.aborted) void informer.start().catch(() => undefined);
    }, 2000);
  });
  await informer.start();
  await syncNow('initial list');
  const resync = setInterval(() => void syncNow('resync'), opts.resyncSeconds * 1000);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(resync);
  clearTimeout(timer);
  await informer.stop();
}
