// Typical agent work for Node.js, traced by derive.sh to derive `syscalls node`.
//
// Reads and writes files (sync, callback and promise APIs), walks a directory, parses and
// writes JSON, hashes, compresses, uses timers and immediates, a worker thread, and an HTTP
// server and client on 127.0.0.1. No child processes.
'use strict';
const fs = require('fs');
const fsp = require('fs/promises');
const path = require('path');
const os = require('os');
const http = require('http');
const net = require('net');
const crypto = require('crypto');
const zlib = require('zlib');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

if (!isMainThread) {
  const files = fs.readdirSync(workerData.dir);
  let bytes = 0;
  for (const f of files) bytes += fs.readFileSync(path.join(workerData.dir, f)).length;
  parentPort.postMessage({ files: files.length, bytes });
  return;
}

const work = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'nw-'));
const docs = path.join(work, 'docs');
const out = path.join(work, 'out');

async function main() {
  fs.mkdirSync(docs, { recursive: true });
  await fsp.mkdir(out, { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(docs, `note-${i}.txt`), `note ${i}\n`.repeat(50));
  fs.appendFileSync(path.join(docs, 'note-0.txt'), 'appended\n');
  const names = (await fsp.readdir(docs, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  const index = [];
  for (const n of names) {
    const p = path.join(docs, n);
    const st = await fsp.stat(p);
    const buf = await fsp.readFile(p);
    index.push({ name: n, size: st.size, sha: crypto.createHash('sha256').update(buf).digest('hex') });
  }
  await fsp.writeFile(path.join(out, 'index.json'), JSON.stringify(index, null, 2));
  JSON.parse(await fsp.readFile(path.join(out, 'index.json'), 'utf8'));
  const csv = ['name,size', ...index.map((r) => `${r.name},${r.size}`)].join('\n');
  fs.writeFileSync(path.join(out, 'index.csv'), csv);
  await new Promise((res, rej) => fs.readFile(path.join(out, 'index.csv'), (e, d) => (e ? rej(e) : res(d))));
  await fsp.copyFile(path.join(docs, 'note-1.txt'), path.join(out, 'copy.txt'));
  await fsp.rename(path.join(out, 'copy.txt'), path.join(out, 'moved.txt'));
  await fsp.chmod(path.join(out, 'moved.txt'), 0o600);
  await fsp.utimes(path.join(out, 'moved.txt'), new Date(), new Date());
  await fsp.truncate(path.join(out, 'moved.txt'), 10);
  fs.lstatSync(docs);
  fs.realpathSync(path.join(docs, 'note-2.txt'));
  await fsp.realpath(path.join(docs, 'note-2.txt'));
  fs.accessSync(docs, fs.constants.R_OK);
  fs.existsSync(path.join(out, 'nope'));
  await fsp.unlink(path.join(out, 'moved.txt'));
  await fsp.cp(docs, path.join(out, 'tree'), { recursive: true });
  await fsp.rm(path.join(out, 'tree'), { recursive: true, force: true });
  const fh = await fsp.open(path.join(out, 'fh.bin'), 'w+');
  await fh.write(Buffer.alloc(4096, 1), 0, 4096, 0);
  await fh.read(Buffer.alloc(100), 0, 100, 0);
  await fh.sync();
  await fh.close();
  await new Promise((res) =>
    fs.createReadStream(path.join(docs, 'note-3.txt'))
      .pipe(zlib.createGzip())
      .pipe(fs.createWriteStream(path.join(out, 'note-3.txt.gz')))
      .on('finish', res),
  );
  zlib.gunzipSync(fs.readFileSync(path.join(out, 'note-3.txt.gz')));
  crypto.randomBytes(32);
  crypto.randomUUID();
  os.cpus(); os.hostname(); os.homedir(); os.freemem(); os.uptime(); os.networkInterfaces();
  process.hrtime.bigint(); process.memoryUsage(); process.cwd(); process.stdout.isTTY;

  // Timers, immediates, microtasks.
  await new Promise((res) => setTimeout(res, 10));
  await new Promise((res) => setImmediate(res));
  await new Promise((res) => { let n = 0; const t = setInterval(() => { if (++n === 3) { clearInterval(t); res(); } }, 2); });
  await new Promise((res) => process.nextTick(res));

  // A worker thread.
  const w = await new Promise((res, rej) => {
    const wk = new Worker(__filename, { workerData: { dir: docs } });
    wk.on('message', res);
    wk.on('error', rej);
  });

  // HTTP server and client on 127.0.0.1.
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ ok: true, got: body.length })); });
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const port = server.address().port;
  const reply = await new Promise((res, rej) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false }, (r) => {
      let d = '';
      r.on('data', (c) => (d += c));
      r.on('end', () => res(JSON.parse(d)));
    });
    req.on('error', rej);
    req.end(JSON.stringify(index));
  });
  if (typeof fetch === 'function') {
    const r = await fetch(`http://127.0.0.1:${port}/`);
    await r.json();
  }
  await new Promise((res) => server.close(res));

  // Name resolution (getaddrinfo on the libuv thread pool).
  await require('dns').promises.lookup('localhost');

  // Raw TCP echo.
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise((res) => echo.listen(0, '127.0.0.1', res));
  await new Promise((res, rej) => {
    const c = net.connect(echo.address().port, '127.0.0.1', () => c.write('ping'));
    c.on('data', () => { c.end(); res(); });
    c.on('error', rej);
  });
  await new Promise((res) => echo.close(res));
  console.log(JSON.stringify({ files: names.length, worker: w, reply }));
}

main().catch((e) => { console.error(e); process.exit(1); });
