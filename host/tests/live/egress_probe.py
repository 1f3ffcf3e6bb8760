# Probes the egress supervisor from inside the sandbox: each argument is a JSON list
# [operation, ...]; one result line per argument. Operations:
#   connect TARGET              the proxy's status line for CONNECT TARGET
#   connect-tls TARGET SNI      CONNECT, then a TLS handshake naming SNI (null: no SNI)
#   get URI HOST                an absolute-form GET through the proxy with Host: HOST
#   direct HOST PORT KIND       connect (tcp) or send (udp) straight to HOST:PORT
#   tls HOST PORT SNI           a TLS request straight to HOST:PORT
#   http HOST PORT HOSTHDR      a plain HTTP request straight to HOST:PORT
#   banner HOST PORT            read what the server says first, straight to HOST:PORT
#   resolve NAME                getaddrinfo: the addresses, or the error number
#   raw HOST                    an ICMP echo request from a raw socket to HOST
#   interfaces                  the network interfaces the program can see
#   packet IFNAME               an Ethernet frame from a packet socket bound to IFNAME
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


def resolve(name):
    try:
        return " ".join(sorted({a[4][0] for a in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}))
    except socket.gaierror as e:
        return f"error {e.errno}"


def raw(host):
    six = ":" in host
    s = socket.socket(family(host), socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if six else socket.IPPROTO_ICMP)
    s.settimeout(3)
    try:
        s.sendto(bytes([128 if six else 8, 0, 0, 0, 0, 1, 0, 1]), (host, 0))
        s.recv(512)
        return "answered"
    except OSError as e:
        return f"errno {e.errno}" if e.errno else type(e).__name__


def packet(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    try:
        s.bind((ifname, 0))
        s.send(b"\xff" * 6 + b"\0" * 6 + b"\x08\x00" + b"\0" * 46)
        return "sent on " + ifname
    except OSError as e:
        return f"errno {e.errno}" if e.errno else type(e).__name__


def run(op, *a):
    if op == "resolve":
        return resolve(a[0])
    if op == "raw":
        return raw(a[0])
    if op == "interfaces":
        return ",".join(name for _, name in socket.if_nameindex())
    if op == "packet":
        return packet(a[0])
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
