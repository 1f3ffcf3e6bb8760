# Probes the egress supervisor from inside the sandbox: each argument is a JSON list
# [operation, ...]; one result line per argument. Operations:
#   connect TARGET              the proxy's status line for CONNECT TARGET
#   connect-tls TARGET SNI      CONNECT, then a TLS handshake naming SNI (null: no SNI)
#   get URI HOST                an absolute-form GET through the proxy with Host: HOST
#   direct HOST PORT KIND       connect (tcp) or send (udp) straight to HOST:PORT
#   tls HOST PORT SNI           a TLS request straight to HOST:PORT
#   http HOST PORT HOSTHDR      a plain HTTP request straight to HOST:PORT
#   banner HOST PORT            read what the server says first, straight to HOST:PORT
import json, os, socket, ssl, sys

PROXY = ("127.0.0.1", int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1]))


def head(sock):
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data.split(b"\r\n", 1)[0].decode() if data else "closed"


def proxy_connect(target):
    s = socket.create_connection(PROXY, timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return s, head(s)


def tls(sock, sni):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        t = ctx.wrap_socket(sock, server_hostname=sni)
        t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return "tls " + head(t)
    except (OSError, ssl.SSLError):
        return "closed"


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def direct(host, port, kind):
    s = socket.socket(family(host), socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        if kind == "udp":
            s.sendto(b"\0" * 12, (host, port))
            s.recv(512)
            return "answered"
        s.connect((host, port))
        return "connected"
    except OSError as e:
        return f"errno {e.errno}" if e.errno else type(e).__name__


def run(op, *a):
    if op == "connect":
        return proxy_connect(a[0])[1]
    if op == "connect-tls":
        s, status = proxy_connect(a[0])
        return status + " / " + (tls(s, a[1]) if status.startswith("HTTP/1.1 200") else "-")
    if op == "get":
        s = socket.create_connection(PROXY, timeout=10)
        s.sendall(f"GET {a[0]} HTTP/1.1\r\nHost: {a[1]}\r\nConnection: close\r\n\r\n".encode())
        return head(s)
    if op == "direct":
        return direct(*a)
    s = socket.create_connection((a[0], a[1]), timeout=10)
    if op == "tls":
        return tls(s, a[2])
    if op == "http":
        s.sendall(f"GET / HTTP/1.1\r\nHost: {a[2]}\r\nConnection: close\r\n\r\n".encode())
        return head(s)
    if op == "banner":
        s.settimeout(5)
        try:
            return s.recv(100).decode().strip() or "closed"
        except OSError:
            return "closed"
    return "unknown operation " + op


for arg in sys.argv[1:]:
    try:
        print(run(*json.loads(arg)), flush=True)
    except OSError as e:
        print(f"errno {e.errno}" if e.errno else type(e).__name__, flush=True)
