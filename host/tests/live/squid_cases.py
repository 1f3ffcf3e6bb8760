# Live cases for the operators' squid.conf and dnsmasq.conf (see squid.rs): loopback
# upstreams that record what reaches them, and clients that try each case. Prints one JSON
# object: the verdict of every case, and what each upstream saw.
import json
import socket
import ssl
import struct
import sys
import threading


def tls_upstreams(cert, ports, seen):
    socks = []
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(16)
        socks.append(s)

    def serve(s, port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert)
        ctx.sni_callback = lambda _sock, name, _ctx: seen.append({"port": port, "sni": name})
        while True:
            conn, _ = s.accept()
            conn.settimeout(5)
            try:
                tls = ctx.wrap_socket(conn, server_side=True)
                tls.sendall(b"upstream\n")
                tls.close()
            except Exception:
                conn.close()

    for s, port in zip(socks, ports):
        threading.Thread(target=serve, args=(s, port), daemon=True).start()


def through_proxy(proxy, target, sni):
    """CONNECT to target, then a TLS handshake with `sni` (None: no server name)."""
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    try:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                return "closed before the CONNECT answer"
            head += chunk
        status = head.split(b"\r\n")[0].decode()
        if " 200 " not in status + " ":
            return status
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(s, server_hostname=sni)
        line = tls.recv(64)
        return "reached" if line == b"upstream\n" else f"read {line!r}"
    except (OSError, ssl.SSLError) as e:
        return f"refused: {type(e).__name__}"
    finally:
        s.close()


def absolute_get(proxy, url):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    try:
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return s.recv(64).split(b"\r\n")[0].decode()
    except OSError as e:
        return f"refused: {type(e).__name__}"
    finally:
        s.close()


def dns_upstream(port, seen):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))

    def serve():
        while True:
            d, a = s.recvfrom(4096)
            i, labels = 12, []
            while d[i]:
                labels.append(d[i + 1 : i + 1 + d[i]].decode())
                i += 1 + d[i]
            qtype = struct.unpack(">H", d[i + 1 : i + 3])[0]
            seen.append(".".join(labels).lower())
            question = d[12 : i + 5]
            if qtype == 1:
                answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 9])
                s.sendto(d[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + question + answer, a)
            else:
                s.sendto(d[:2] + struct.pack(">HHHHH", 0x8180, 1, 0, 0, 0) + question, a)

    threading.Thread(target=serve, daemon=True).start()


def lookup(port, name, qtype=1):
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(q, ("127.0.0.1", port))
        d, _ = s.recvfrom(4096)
    except OSError as e:
        return f"no answer: {type(e).__name__}"
    finally:
        s.close()
    rcode = struct.unpack(">H", d[2:4])[0] & 0xF
    answers = struct.unpack(">H", d[6:8])[0]
    return "answered" if rcode == 0 and answers > 0 else f"rcode {rcode}, {answers} answers"


def main():
    spec = json.loads(sys.argv[1])
    out = {"cases": [], "upstream": []}
    if spec["mode"] == "squid":
        tls_upstreams(spec["cert"], spec["upstream_ports"], out["upstream"])
        for c in spec["cases"]:
            if c["kind"] == "connect":
                got = through_proxy(spec["proxy"], c["target"], c["sni"])
            else:
                got = absolute_get(spec["proxy"], c["url"])
            out["cases"].append(got)
    else:
        dns_upstream(spec["upstream_port"], out["upstream"])
        for c in spec["cases"]:
            out["cases"].append(lookup(spec["port"], c["name"], c.get("qtype", 1)))
    print(json.dumps(out))


main()
