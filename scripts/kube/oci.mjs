// One-layer OCI image archives made from a root filesystem directory, as
// `ctr images import` takes them: no registry is reachable, so every image a
// node runs is built here and imported under the exact name a manifest or a
// test asks for (as `kind load image-archive` would). One archive may carry
// several names, each with its own config, over the same layer.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';

$.verbose = false;
$.quiet = true;

/**
 * Writes `out` (an OCI layout in a tar) whose layer is `rootfs`; `images` are
 * `{ name, config }`, config being the image config's `config` (Entrypoint,
 * Cmd, Env, WorkingDir).
 */
export async function ociArchive(rootfs, images, out) {
  const work = `${out}.d`;
  rmSync(work, { recursive: true, force: true });
  const blobs = join(work, 'oci', 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (buf) => {
    const digest = createHash('sha256').update(buf).digest('hex');
    writeFileSync(join(blobs, digest), buf);
    return { digest: `sha256:${digest}`, size: buf.length };
  };
  // Owner root and a fixed order, so the layer is the same for the same tree.
  await $`tar -C ${rootfs} --sort=name --owner=0 --group=0 --numeric-owner -cf ${join(work, 'layer.tar')} .`;
  const layer = blob(readFileSync(join(work, 'layer.tar')));
  const manifests = images.map(({ name, config }) => {
    const cfg = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [layer.digest] } })));
    const m = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
        }),
      ),
    );
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name } };
  });
  writeFileSync(join(work, 'oci', 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  writeFileSync(join(work, 'oci', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await $`tar -C ${join(work, 'oci')} -cf ${out} .`;
  rmSync(work, { recursive: true, force: true });
  return out;
}
