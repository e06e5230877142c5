#!/usr/bin/env python3
"""Send requests through the lab's real Traefik to local stand-in backends (not Odoo) of one instance.

The lab gives Services loopback ClusterIPs and Traefik routes to ClusterIPs, so a stand-in that listens on
<ClusterIP>:8069 and <ClusterIP>:8072 receives what Traefik forwards to the Service's ports. Each stand-in
answers with the port it listens on and the headers it got. Prints one JSON document with the answers.

    traefik_check.py CLUSTER_IP HOSTNAME WEBSECURE_URL WEB_URL
"""

import contextlib
import http.server
import json
import ssl
import sys
import threading
import urllib.error
import urllib.request


class StandIn(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(
            {
                "backend": "stand-in",
                "port": self.server.server_address[1],
                "path": self.path,
                "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, host):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # Traefik's default self-signed certificate in the lab
    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=ctx), urllib.request.ProxyHandler({})
    )
    req = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 - http(s) URLs of the lab's Traefik
    try:
        with opener.open(req, timeout=10) as resp:
            status, headers, body = resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read().decode()
    with contextlib.suppress(ValueError):
        body = json.loads(body)
    return {"status": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body}


def main():
    cluster_ip, host, websecure, web = sys.argv[1:5]
    servers = [http.server.ThreadingHTTPServer((cluster_ip, port), StandIn) for port in (8069, 8072)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        out = {
            "root": fetch(f"{websecure}/web/login", host),
            "websocket": fetch(f"{websecure}/websocket", host),
            "plain_http": fetch(f"{web}/web/login", host),
        }
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
