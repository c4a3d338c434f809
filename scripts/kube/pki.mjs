// Certificates and kubeconfigs for a cluster of the harness, made with
// openssl in the cluster's own directory: one CA, the API server's serving
// certificate, a client certificate per identity (admin, controller-manager,
// scheduler, each kubelet, kube-proxy) and the service-account key pair.
// Throw-away, as the cluster: nothing outside its directory is read or written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';

$.verbose = false;
$.quiet = true;

/**
 * Makes the PKI under `dir`. `sans`: the API server's names and addresses
 * (the first service IP and the advertise address among them). Returns the
 * paths.
 */
export async function makePki(dir, { sans }) {
  mkdirSync(dir, { recursive: true });
  const p = (n) => join(dir, n);
  await $`openssl req -x509 -newkey rsa:2048 -nodes -keyout ${p('ca.key')} -out ${p('ca.crt')} -days 2 -subj /CN=flatnet-test-ca`;
  await $`openssl genrsa -out ${p('sa.key')} 2048`;
  await $`openssl rsa -in ${p('sa.key')} -pubout -out ${p('sa.pub')}`;
  const ext = p('apiserver.ext');
  writeFileSync(ext, `subjectAltName=${sans.map((s) => (/^[\d.]+$|:/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await sign(dir, 'apiserver', '/CN=kube-apiserver', ext);
  return { dir, ca: p('ca.crt'), caKey: p('ca.key'), saKey: p('sa.key'), saPub: p('sa.pub'), apiserverCert: p('apiserver.crt'), apiserverKey: p('apiserver.key') };
}

async function sign(dir, name, subj, extFile) {
  const p = (n) => join(dir, n);
  await $`openssl req -newkey rsa:2048 -nodes -keyout ${p(`${name}.key`)} -out ${p(`${name}.csr`)} -subj ${subj}`;
  const ext = extFile ?? p(`${name}.ext`);
  if (!extFile) writeFileSync(ext, 'extendedKeyUsage=clientAuth\n');
  await $`openssl x509 -req -in ${p(`${name}.csr`)} -CA ${p('ca.crt')} -CAkey ${p('ca.key')} -CAcreateserial -out ${p(`${name}.crt`)} -days 2 -extfile ${ext}`;
}

/** A client certificate for `user` in `group` and a kubeconfig using it; returns the kubeconfig's path. */
export async function clientKubeconfig(pki, name, { user, group, server }) {
  await sign(pki.dir, name, group ? `/O=${group}/CN=${user}` : `/CN=${user}`);
  const b64 = (f) => readFileSync(f).toString('base64');
  const path = join(pki.dir, `${name}.kubeconfig`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'flatnet', cluster: { server, 'certificate-authority-data': b64(pki.ca) } }],
      users: [{ name: user, user: { 'client-certificate-data': b64(join(pki.dir, `${name}.crt`)), 'client-key-data': b64(join(pki.dir, `${name}.key`)) } }],
      contexts: [{ name: 'flatnet', context: { cluster: 'flatnet', user } }],
      'current-context': 'flatnet',
    }),
  );
  return path;
}
