"""Typical agent work for a CPython interpreter, traced by derive.sh to derive `syscalls python`.

Reads and writes files, walks a tree, parses and writes JSON and CSV, hashes, compresses,
copies and renames, uses threads, a thread pool and asyncio, and talks HTTP and raw TCP to a
server on 127.0.0.1. No subprocesses (agents under the stdlib policies do not spawn them).
"""

import asyncio
import concurrent.futures
import csv
import datetime
import hashlib
import http.client
import http.server
import io
import json
import os
import pathlib
import random
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import zipfile

work = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
docs = work / "docs"
out = work / "out"
docs.mkdir(parents=True, exist_ok=True)
out.mkdir(parents=True, exist_ok=True)

# Files: write, read, append, stat, walk, scandir, glob.
for i in range(20):
    (docs / f"note-{i}.txt").write_text(f"note {i}\n" * 50, encoding="utf-8")
with open(docs / "note-0.txt", "a", encoding="utf-8") as f:
    f.write("appended\n")
    f.flush()
    os.fsync(f.fileno())
total = 0
for root, dirs, files in os.walk(work):
    for name in files:
        p = os.path.join(root, name)
        st = os.stat(p)
        total += st.st_size
        with open(p, "rb") as f:
            hashlib.sha256(f.read()).hexdigest()
with os.scandir(docs) as it:
    entries = sorted(e.name for e in it if e.is_file())
list(docs.glob("*.txt"))
os.access(docs, os.R_OK)
os.path.realpath(docs / "note-1.txt")
os.getcwd()
os.chdir(work)
os.lstat(docs)

# JSON and CSV.
data = [{"name": n, "size": (docs / n).stat().st_size, "ts": time.time()} for n in entries]
(out / "index.json").write_text(json.dumps(data, indent=2))
json.loads((out / "index.json").read_text())
with open(out / "index.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["name", "size", "ts"])
    w.writeheader()
    w.writerows(data)
with open(out / "index.csv", newline="") as f:
    rows = list(csv.DictReader(f))

# Copy, move, remove, temp files, zip, sqlite.
shutil.copy2(docs / "note-1.txt", out / "copy.txt")
shutil.copyfile(docs / "note-2.txt", out / "copy2.txt")
os.replace(out / "copy2.txt", out / "moved.txt")
os.rename(out / "moved.txt", out / "moved2.txt")
os.unlink(out / "moved2.txt")
shutil.copytree(docs, out / "tree")
shutil.rmtree(out / "tree")
os.makedirs(out / "a" / "b", exist_ok=True)
os.rmdir(out / "a" / "b")
os.chmod(out / "copy.txt", 0o600)
os.utime(out / "copy.txt")
os.truncate(out / "copy.txt", 10)
with tempfile.NamedTemporaryFile(dir=out, delete=True) as t:
    t.write(b"x" * 1000)
    t.flush()
with tempfile.TemporaryDirectory(dir=out) as d:
    pathlib.Path(d, "f").write_bytes(b"y")
with zipfile.ZipFile(out / "docs.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for n in entries:
        z.write(docs / n, n)
with zipfile.ZipFile(out / "docs.zip") as z:
    z.read(entries[0])
db = sqlite3.connect(out / "index.db")
db.execute("create table t (name text, size int)")
db.executemany("insert into t values (?, ?)", [(d["name"], d["size"]) for d in data])
db.commit()
db.execute("select count(*) from t").fetchone()
db.close()
io.BytesIO(b"abc").read()
random.SystemRandom().random()
os.urandom(16)
datetime.datetime.now().astimezone().isoformat()
time.sleep(0.01)
os.getpid(), os.getuid(), os.getgid(), os.cpu_count(), os.environ.get("HOME")
sys.stdout.isatty()

# Threads and a pool.
results = []
lock = threading.Lock()


def worker(n):
    s = sum(range(n))
    with lock:
        results.append(s)


threads = [threading.Thread(target=worker, args=(10000 * i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
    list(ex.map(lambda p: (docs / p).read_bytes(), entries))
ev = threading.Event()
threading.Timer(0.01, ev.set).start()
ev.wait(1)

# HTTP to 127.0.0.1.
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
port = srv.server_address[1]
th = threading.Thread(target=srv.serve_forever, daemon=True)
th.start()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
conn.request("GET", "/")
json.loads(conn.getresponse().read())
conn.close()
srv.shutdown()
srv.server_close()

# Raw TCP echo and a socketpair.
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(1)


def echo():
    c, _ = ls.accept()
    c.sendall(c.recv(100))
    c.close()


et = threading.Thread(target=echo)
et.start()
cs = socket.create_connection(ls.getsockname(), timeout=5)
cs.sendall(b"ping")
cs.recv(100)
cs.getpeername()
cs.close()
et.join()
ls.close()
socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
a, b = socket.socketpair()
a.send(b"x")
b.recv(1)
a.close()
b.close()


# asyncio with a TCP round trip on 127.0.0.1.
async def amain():
    async def handle(reader, writer):
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    p = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", p)
    writer.write(b"hello")
    await writer.drain()
    await reader.read(100)
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.01)
    await asyncio.gather(*(asyncio.to_thread(lambda: 1) for _ in range(3)))


asyncio.run(amain())
print(json.dumps({"files": len(entries), "bytes": total, "rows": len(rows)}))
