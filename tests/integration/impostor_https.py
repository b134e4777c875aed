"""Pose as a Mesos node (run on a cluster host as an unprivileged user, e.g. `nobody`).

    python3 impostor_https.py ADDRESS PORT LOG

Binds ADDRESS:PORT (a port its service left free while it restarts), serves HTTPS with the
executors' certificate and key (task users can read them; they name the node's address) and
appends "BOUND", then every request's path and Authorization header, to LOG; or "REFUSED" and
the error when the port cannot be bound. Stops by itself after 120 s. Used by
tests/integration/test_security.py.
"""

import http.server
import ssl
import sys
import threading

ADDRESS, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TLS = "/etc/dcos-provision/tls"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with open(LOG, "a") as log:
            log.write(f"GET {self.path} {self.headers.get('Authorization')}\n")
        body = b'{"master/elected": 1}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


try:
    server = http.server.HTTPServer((ADDRESS, PORT), Handler)
except OSError as exc:
    with open(LOG, "a") as log:
        log.write(f"REFUSED {exc.strerror}\n")
    sys.exit(1)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{TLS}/executor.crt", f"{TLS}/executor.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(LOG, "a") as log:
    log.write("BOUND\n")
threading.Timer(120, server.shutdown).start()
server.serve_forever()
