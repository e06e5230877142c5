"""The lab's services answer for real: PostgreSQL primary and streaming replica, Redis
with a password, both SeaweedFS S3 regions with object lock, and Traefik routing an
IngressRoute of the lab cluster to a local backend.

Reads .lab/connection.json (written by ``scripts/lab up``); every test is skipped,
with the reason, when its part of the lab is not running.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import json
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab() -> dict:
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip(f"the lab is not up ({path} missing): run scripts/lab up")
    return json.loads(path.read_text())


def _component(lab: dict, name: str, port_of) -> dict:
    info = lab.get(name)
    if not info:
        pytest.skip(f"lab component {name!r} is not in connection.json: run scripts/lab up {name}")
    host, port = port_of(info)
    if not _port_open(host, port):
        pytest.skip(f"lab component {name!r} is not listening on {host}:{port}: run scripts/lab up {name}")
    return info


@pytest.fixture(scope="module")
def pg(lab) -> dict:
    return _component(lab, "postgres", lambda i: (i["primary"]["host"], i["primary"]["port"]))


@pytest.fixture(scope="module")
def rds(lab) -> dict:
    return _component(lab, "redis", lambda i: (i["host"], i["port"]))


@pytest.fixture(scope="module")
def s3(lab) -> dict:
    return _component(lab, "s3", lambda i: ("127.0.0.1", int(i["a"]["endpoint"].rsplit(":", 1)[1])))


# --------------------------------------------------------------------------- PostgreSQL
def test_postgres_primary_answers_with_password_auth(pg):
    import psycopg

    with psycopg.connect(pg["primary"]["dsn"], connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('max_connections')::int, "
            "current_setting('wal_level'), current_setting('listen_addresses'), "
            "current_setting('password_encryption'), pg_is_in_recovery()"
        ).fetchone()
    version, max_conn, wal_level, listen, enc, in_recovery = row
    assert version.startswith("15."), version
    assert version == pg["version"]
    assert max_conn == 200
    assert wal_level == "replica"
    assert listen == "127.0.0.1"
    assert enc == "scram-sha-256"
    assert in_recovery is False

    bad = pg["primary"]["dsn"].replace(pg["primary"]["password"], "wrong-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_postgres_secrets_are_private(pg):
    for f in (LAB_DIR / "postgres" / "postgres.password", Path(pg["pgpass_file"])):
        assert f.stat().st_mode & 0o077 == 0, f"{f} must be mode 0600"


def test_postgres_write_on_primary_is_visible_on_replica(pg):
    import psycopg

    if pg["replica"].get("role") != "standby":
        pytest.skip(f"the replica was promoted ({pg['replica'].get('role')}); run scripts/lab up to re-create it")
    table = f"lab_selftest_{secrets.token_hex(4)}"
    marker = secrets.token_hex(8)
    with psycopg.connect(pg["primary"]["dsn"], autocommit=True, connect_timeout=5) as prim:
        prim.execute(f"CREATE TABLE {table} (v text)")
        try:
            prim.execute(f"INSERT INTO {table} VALUES (%s)", (marker,))
            with psycopg.connect(pg["replica"]["dsn"], autocommit=True, connect_timeout=5) as rep:
                assert rep.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
                deadline = time.monotonic() + 15
                seen = None
                while time.monotonic() < deadline:
                    with contextlib.suppress(psycopg.errors.UndefinedTable):
                        seen = rep.execute(f"SELECT v FROM {table}").fetchone()
                    if seen:
                        break
                    time.sleep(0.2)
                assert seen == (marker,), "the write on the primary never reached the replica"
                with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                    rep.execute(f"INSERT INTO {table} VALUES ('no')")
            slot = prim.execute(
                "SELECT s.active, r.state FROM pg_replication_slots s "
                "JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = %s",
                (pg["replica"]["slot"],),
            ).fetchone()
            assert slot == (True, "streaming")
        finally:
            prim.execute(f"DROP TABLE IF EXISTS {table}")


# --------------------------------------------------------------------------- Redis
def test_redis_refuses_unauthenticated_and_answers_authenticated(rds):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # the wire answer to a client that did not authenticate
    with socket.create_connection((rds["host"], rds["port"]), timeout=5) as raw:
        raw.sendall(b"PING\r\n")
        assert raw.recv(200).startswith(b"-NOAUTH")

    no_retry = Retry(NoBackoff(), 0)
    anon = redis.Redis(host=rds["host"], port=rds["port"], socket_timeout=5, retry=no_retry)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anon.ping()
    wrong = redis.Redis(host=rds["host"], port=rds["port"], password="wrong", socket_timeout=5, retry=no_retry)
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()

    cli = redis.Redis.from_url(rds["url"], socket_timeout=5)
    assert cli.ping() is True
    key = f"lab:selftest:{secrets.token_hex(4)}"
    try:
        cli.set(key, "v", ex=60)
        assert cli.get(key) == b"v"
    finally:
        cli.delete(key)
    assert cli.info("server")["redis_version"] == rds["version"]
    assert rds["version"].startswith("7.")


# --------------------------------------------------------------------------- S3
LOCK_BUCKET = "lab-selftest-lock"  # reused across runs: weed grows volumes per bucket


def _s3_client(region_info: dict, secret: str | None = None):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=region_info["endpoint"],
        aws_access_key_id=region_info["access_key"],
        aws_secret_access_key=secret or region_info["secret_key"],
        region_name=region_info["region"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, proxies={}),
    )


def _lock_bucket(client) -> None:
    import botocore.exceptions

    try:
        client.create_bucket(Bucket=LOCK_BUCKET, ObjectLockEnabledForBucket=True)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    # drop versions of earlier runs whose retention has run out
    now = datetime.datetime.now(datetime.UTC)
    for v in client.list_object_versions(Bucket=LOCK_BUCKET, Prefix="locked/").get("Versions", []):
        with contextlib.suppress(botocore.exceptions.ClientError):
            ret = client.get_object_retention(Bucket=LOCK_BUCKET, Key=v["Key"], VersionId=v["VersionId"])
            if ret["Retention"]["RetainUntilDate"] < now:
                client.delete_object(Bucket=LOCK_BUCKET, Key=v["Key"], VersionId=v["VersionId"])


@pytest.mark.parametrize("region", ["a", "b"])
def test_s3_object_lock_refuses_deleting_a_locked_version(s3, region):
    import botocore.exceptions

    client = _s3_client(s3[region])
    _lock_bucket(client)
    assert client.get_bucket_versioning(Bucket=LOCK_BUCKET)["Status"] == "Enabled"
    key = f"locked/{secrets.token_hex(6)}"
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=2)
    put = client.put_object(Bucket=LOCK_BUCKET, Key=key, Body=b"keep me",
                            ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    version = put["VersionId"]
    ret = client.get_object_retention(Bucket=LOCK_BUCKET, Key=key, VersionId=version)["Retention"]
    assert ret["Mode"] == "COMPLIANCE"

    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.delete_object(Bucket=LOCK_BUCKET, Key=key, VersionId=version)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    body = client.get_object(Bucket=LOCK_BUCKET, Key=key, VersionId=version)["Body"].read()
    assert body == b"keep me"


@pytest.mark.parametrize("region", ["a", "b"])
def test_s3_requires_valid_credentials(s3, region):
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as err:
        _s3_client(s3[region], secret="0" * 40).list_buckets()
    assert err.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")
    req = urllib.request.Request(s3[region]["endpoint"] + "/")
    with pytest.raises(urllib.error.HTTPError) as anon:
        NO_PROXY.open(req, timeout=5)
    assert anon.value.code == 403


def test_s3_lifecycle_and_multipart(s3):
    client = _s3_client(s3["a"])
    _lock_bucket(client)
    rules = [{"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}}]
    client.put_bucket_lifecycle_configuration(Bucket=LOCK_BUCKET, LifecycleConfiguration={"Rules": rules})
    got = client.get_bucket_lifecycle_configuration(Bucket=LOCK_BUCKET)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"]) for r in got] == [("expire-tmp", 3)]

    key = f"tmp/multipart-{secrets.token_hex(4)}"
    part1, part2 = secrets.token_bytes(5 * 1024 * 1024), secrets.token_bytes(1234)
    mp = client.create_multipart_upload(Bucket=LOCK_BUCKET, Key=key)
    parts = []
    for n, data in ((1, part1), (2, part2)):
        r = client.upload_part(Bucket=LOCK_BUCKET, Key=key, UploadId=mp["UploadId"], PartNumber=n, Body=data)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    client.complete_multipart_upload(Bucket=LOCK_BUCKET, Key=key, UploadId=mp["UploadId"],
                                     MultipartUpload={"Parts": parts})
    assert client.get_object(Bucket=LOCK_BUCKET, Key=key)["Body"].read() == part1 + part2
    for v in client.list_object_versions(Bucket=LOCK_BUCKET, Prefix=key).get("Versions", []):
        client.delete_object(Bucket=LOCK_BUCKET, Key=key, VersionId=v["VersionId"])


def test_s3_regions_are_independent(s3):
    assert s3["a"]["endpoint"] != s3["b"]["endpoint"]
    assert s3["a"]["access_key"] != s3["b"]["access_key"]
    key = f"tmp/only-in-a-{secrets.token_hex(4)}"
    a, b = _s3_client(s3["a"]), _s3_client(s3["b"])
    _lock_bucket(a)
    _lock_bucket(b)
    a.put_object(Bucket=LOCK_BUCKET, Key=key, Body=b"a")
    try:
        assert b.list_objects_v2(Bucket=LOCK_BUCKET, Prefix=key).get("KeyCount", 0) == 0
    finally:
        for v in a.list_object_versions(Bucket=LOCK_BUCKET, Prefix=key).get("Versions", []):
            a.delete_object(Bucket=LOCK_BUCKET, Key=key, VersionId=v["VersionId"])


# --------------------------------------------------------------------------- Traefik
@pytest.fixture(scope="module")
def traefik(lab) -> dict:
    if not lab.get("controlplane"):
        pytest.skip("no control plane in connection.json: Traefik needs it (scripts/lab up)")
    return _component(lab, "traefik", lambda i: ("127.0.0.1", i["ports"]["web"]))


@pytest.fixture(scope="module")
def kube(lab, traefik):
    cp = lab["controlplane"]
    base = [cp["kubectl"], "--kubeconfig", cp["kubeconfig"]]

    def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([*base, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {res.stderr}")
        return res

    ns = f"lab-selftest-{secrets.token_hex(3)}"
    kubectl("create", "namespace", ns)
    yield kubectl, ns
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


class _Backend:
    """A tiny HTTP server answering a unique body, on a given local address."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.body = f"lab-backend-{secrets.token_hex(6)}".encode()
        body = self.body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = host, self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# No `tls` in the IngressRoutes: that would make them HTTPS-only, also on "web". The websecure
# entrypoint has TLS of its own, so Traefik serves the same route there over HTTPS.
def _route(kubectl, ns: str, name: str, host: str, service: dict, port: int = 80) -> None:
    objs = [service]
    objs.append({
        "apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "entryPoints": ["web", "websecure"],
            "routes": [{"kind": "Rule", "match": f"Host(`{host}`)",
                        "services": [{"name": service["metadata"]["name"], "port": port}]}],
        },
    })
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))


def _get_through(url: str, host: str, want: bytes, timeout: float = 45) -> bytes:
    """GET url with a Host header until the backend's body comes back (Traefik watches the API)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # Traefik's default self-signed certificate
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with opener.open(urllib.request.Request(url, headers={"Host": host}), timeout=5) as r:
                last = r.read()
                if last == want:
                    return last
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.5)
    raise AssertionError(f"{url} (Host: {host}) never returned the backend's answer; last: {last!r}")


def test_traefik_routes_ingressroute_to_a_deployments_service(lab, traefik, kube):
    """A Deployment's Service, reached through the real Traefik.

    kwok pods run nothing, so a local stand-in backend binds the Service's ClusterIP (the lab's
    ClusterIPs are loopback addresses) and Traefik routes to the ClusterIP (nativeLBByDefault).
    The pods must be Ready and the Service's EndpointSlice must list them, as on a real cluster.
    """
    kubectl, ns = kube
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1",
                                                       "ports": [{"containerPort": 8069}]}]}}},
    }
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8069, "targetPort": 8069}]}}
    kubectl("apply", "-n", ns, "-f", "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [deploy, svc]}))
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    cluster_ip = kubectl("get", "-n", ns, "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout.strip()
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(lab["controlplane"]["service_cidr"])
    assert ipaddress.ip_address(cluster_ip).is_loopback
    deadline = time.monotonic() + 30
    while True:
        eps = json.loads(kubectl("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web",
                                 "-o", "json").stdout)["items"]
        ready = [e for s in eps for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")]
        if len(ready) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(ready) == 2, f"EndpointSlices of Service web: {eps}"
    backend = _Backend(cluster_ip, 8069)
    try:
        _route(kubectl, ns, "web", f"{ns}.lab.test", svc, port=8069)
        assert _get_through(f"{traefik['web']}/", f"{ns}.lab.test", backend.body) == backend.body
    finally:
        backend.close()


def test_traefik_routes_ingressroute_to_externalname_backend_over_http_and_https(traefik, kube):
    kubectl, ns = kube
    backend = _Backend("127.0.0.1")
    try:
        # Traefik dials externalName:port, so the Service port is the backend's port
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": ns},
               "spec": {"type": "ExternalName", "externalName": "127.0.0.1",
                        "ports": [{"name": "http", "port": backend.port}]}}
        host = f"ext-{ns}.lab.test"
        route = {
            "apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": "ext", "namespace": ns},
            "spec": {"entryPoints": ["web", "websecure"],
                     "routes": [{"kind": "Rule", "match": f"Host(`{host}`)",
                                 "services": [{"name": "ext", "port": backend.port}]}]},
        }
        kubectl("apply", "-n", ns, "-f", "-",
                stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [svc, route]}))
        assert _get_through(f"{traefik['web']}/", host, backend.body) == backend.body
        assert _get_through(f"{traefik['websecure']}/", host, backend.body) == backend.body
    finally:
        backend.close()


def test_traefik_api_and_ping(traefik):
    with NO_PROXY.open(f"{traefik['api']}/ping", timeout=5) as r:
        assert r.status == 200
    with NO_PROXY.open(f"{traefik['api']}/api/overview", timeout=5) as r:
        overview = json.loads(r.read())
    assert {"KubernetesCRD", "KubernetesIngress"} <= set(overview.get("providers", []))
