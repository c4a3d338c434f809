// Where the node list comes from. A source hands the agent's loop complete
// node sets only: a list that could not be read, an API error or a file that
// is not a NodeList produce nothing, so the agent keeps its last good state
// instead of withdrawing every route.
import { readFileSync, statSync } from 'node:fs';
import { log } from '../log.ts';
import { fromNodeList, type NodeInfo } from './nodes.ts';

/** listing: no complete list yet; watching: following changes; backoff: the last attempt failed, retrying. */
export type SourceState = 'listing' | 'watching' | 'backoff';

export interface SourceStatus {
  state: SourceState;
  /** The last error, while it is current. */
  error?: string;
  /** Complete lists taken (the file read, or the API listed). */
  lists: number;
  /** Failed reads, lists and watches. */
  errors: number;
}

export interface NodeSource {
  /** For logs and `flatnet status`: "nodes file /x", "Kubernetes API https://…". */
  readonly name: string;
  /** Runs until `signal` aborts, calling `onNodes` with every complete node set. */
  run(onNodes: (nodes: NodeInfo[], why: string) => void, signal: AbortSignal): Promise<void>;
  status(): SourceStatus;
  /**
   * The node set as it is now, when the source also keeps changes it did not
   * hand over (heartbeats): a sync started by the clock sees their times.
   */
  current?(): NodeInfo[] | undefined;
}

export function describeSource(s: NodeSource): string {
  const st = s.status();
  const what = st.state === 'watching' ? 'following changes' : st.lists === 0 ? 'waiting for the first node list' : 'using the last good node list, retrying';
  return `${s.name}: ${what}${st.error ? ` (last error: ${st.error})` : ''}`;
}

/** The node list from a file holding `kubectl get nodes -o json`; re-read when it changes (polled, so atomic renames are seen). */
export class FileNodeSource implements NodeSource {
  readonly name: string;
  private st: SourceStatus = { state: 'listing', lists: 0, errors: 0 };

  constructor(
    private readonly path: string,
    private readonly pollMs = 250,
  ) {
    this.name = `nodes file ${path}`;
  }

  status(): SourceStatus {
    return { ...this.st };
  }

  /** Reads the file; undefined (logged once per distinct error) when it is not a readable NodeList. */
  read(): NodeInfo[] | undefined {
    try {
      const nodes = fromNodeList(JSON.parse(readFileSync(this.path, 'utf8')));
      if (this.st.error) void log('info', { path: this.path }, 'nodes file readable again');
      this.st = { state: 'watching', lists: this.st.lists + 1, errors: this.st.errors };
      return nodes;
    } catch (e) {
      const error = (e as Error).message;
      if (error !== this.st.error) void log('error', { path: this.path }, `cannot use the nodes file (routes stay as they are until it is a node list again): ${error}`);
      this.st = { ...this.st, state: 'backoff', error, errors: this.st.errors + 1 };
      return undefined;
    }
  }

  async run(onNodes: (nodes: NodeInfo[], why: string) => void, signal: AbortSignal): Promise<void> {
    // Polled with stat, not watched: an atomic rename replaces the inode a
    // watch would follow. The stat is taken before each read, so a change
    // that lands during the read is seen by the next poll.
    let seen = this.stamp();
    const readNow = (why: string): void => {
      const nodes = this.read();
      if (nodes) onNodes(nodes, why);
    };
    readNow('start');
    const timer = setInterval(() => {
      const now = this.stamp();
      if (now === seen) return;
      seen = now;
      readNow('nodes file changed');
    }, this.pollMs);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    clearInterval(timer);
  }

  private stamp(): string {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs}`;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'error';
    }
  }
}
