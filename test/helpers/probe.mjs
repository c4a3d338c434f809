// kubelet's httpGet probe, run where kubelet runs (`nsenter --net=NODE node
// probe.mjs URL TIMEOUT_MS [COUNT] [INTERVAL_MS]`): GET with kubelet's
// headers and timeout; 200-399 is success. Prints one JSON line per probe:
// {"ok": bool, "status": N, "ms": latency, "body": "..."} or {"ok": false, "error": "...", "ms": ...}.
import { request } from 'node:http';

const [url, timeoutArg, countArg = '1', intervalArg = '0'] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg);

function probe() {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done = (o) => resolve({ ...o, ms: Math.round((performance.now() - t0) * 100) / 100 });
    const req = request(url, { method: 'GET', headers: { 'User-Agent': 'kube-probe/1.29', Accept: '*/*', Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => done({ ok: res.statusCode >= 200 && res.statusCode < 400, status: res.statusCode, body: body.trim().slice(0, 300) }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (e) => done({ ok: false, error: e.message }));
    req.end();
  });
}

for (let i = 0; i < Number(countArg); i++) {
  if (i > 0) await new Promise((r) => setTimeout(r, Number(intervalArg)));
  process.stdout.write(`${JSON.stringify(await probe())}\n`);
}
