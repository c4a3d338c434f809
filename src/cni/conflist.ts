// Network configuration lists as runtimes find them (libcni's ConfFiles +
// LoadConfList): *.conflist, *.conf and *.json in a directory, in file name
// order, keys matched case-insensitively as Go does. A single-plugin .conf
// becomes a list of one. The one reader of conflists in flatnet.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, ErrorCode } from './errors.ts';
import { getKey, isObject, type JsonObject } from './json.ts';

export interface ConfList {
  name: string;
  cniVersion: string;
  plugins: Array<JsonObject & { type: string }>;
  /** The file it was read from. */
  path: string;
}

const bad = (path: string, why: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, `${path}: ${why}`);

/** Parses one file's text into a ConfList; `.conf`/`.json` files hold a single plugin. */
export function parseConfList(text: string, path: string): ConfList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(path, `not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw bad(path, 'not a JSON object');
  const name = getKey(doc, 'name');
  if (typeof name !== 'string' || name === '') throw bad(path, 'no network "name"');
  const version = getKey(doc, 'cniVersion') ?? '0.1.0';
  if (typeof version !== 'string') throw bad(path, '"cniVersion" must be a string');
  const rawPlugins = path.endsWith('.conflist') ? getKey(doc, 'plugins') : [doc];
  if (!Array.isArray(rawPlugins) || rawPlugins.length === 0) throw bad(path, 'no plugins in list');
  const plugins = rawPlugins.map((p, i) => {
    const type = isObject(p) ? getKey(p, 'type') : undefined;
    if (!isObject(p) || typeof type !== 'string' || type === '') throw bad(path, `plugins[${i}] has no "type"`);
    return { ...p, type };
  });
  return { name, cniVersion: version, plugins, path };
}

export function readConfList(path: string): ConfList {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot read ${path}: ${(e as Error).message}`);
  }
  return parseConfList(text, path);
}

/** The list named `network` in `dir`, or the first file by name (the runtimes' rule). */
export function findConfList(dir: string, network?: string): ConfList {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort();
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot read the CNI config directory ${dir}: ${(e as Error).message}`);
  }
  for (const f of files) {
    const list = readConfList(join(dir, f));
    if (!network || list.name === network) return list;
  }
  throw new CniError(ErrorCode.InvalidNetworkConfig, network ? `no network named ${network} in ${dir}` : `no CNI network config (*.conflist, *.conf, *.json) in ${dir}`);
}
