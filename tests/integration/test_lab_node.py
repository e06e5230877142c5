"""The lab's real worker node runs real containers (lab/node.py, issue 11).

* the node is Ready, runs containerd, carries the label and taint that keep other pods off it;
* a Job's container writes a row into the lab's PostgreSQL (over the pod network, to the bridge
  address) and the Job completes; a Job whose container exits 3 fails, exit code 3 in its pod status;
* a pod has no route off the machine and opens nothing on this host but PostgreSQL;
* ``lab down`` leaves nothing of the node behind (its network namespace, veth, route, iptables chains, processes,
  the local volumes' directories,
  kernel tunables the kubelet changed included) and
  ``lab up`` brings it back Ready without the
  earlier pods (this one stops the whole lab: it runs only with LAB_LIFECYCLE_TEST=1, like
  test_lab_lifecycle.py).

Reads .lab/connection.json; skipped, with the reason, when the lab or its node is not up.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
LAB = [str(REPO / "scripts" / "lab")]
LABEL = "lab.governed.odoo/node"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _conn() -> dict:
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip(f"the lab is not up ({path} missing): run scripts/lab up")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def lab() -> dict:
    conn = _conn()
    cp, node = conn.get("controlplane"), conn.get("node")
    if not cp or cp.get("external"):
        pytest.skip("the real node joins only the lab's own control plane: run scripts/lab up")
    if not node or not node.get("enabled"):
        pytest.skip(f"the lab's real node is not enabled: {(node or {}).get('reason', 'run scripts/lab up node')}")
    port = int(cp["server"].rsplit(":", 1)[1])
    if not _port_open("127.0.0.1", port):
        pytest.skip("the lab API server is not listening: run scripts/lab up")
    if not _port_open("127.0.0.1", int(node["registry"].rsplit(":", 1)[1])):
        pytest.skip("the lab's real node is down: run scripts/lab up")
    return conn


def kubectl(lab: dict, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cp = lab["controlplane"]
    res = subprocess.run(
        [cp["kubectl"], "--kubeconfig", cp["kubeconfig"], *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {res.stderr}")
    return res


def _json(lab: dict, *args: str) -> dict:
    return json.loads(kubectl(lab, *args, "-o", "json").stdout)


@pytest.fixture
def namespace(lab):
    name = f"lab-node-test-{secrets.token_hex(3)}"
    kubectl(lab, "create", "namespace", name)
    yield name
    kubectl(lab, "delete", "namespace", name, "--wait=false", check=False)


def _on_node(lab: dict) -> dict:
    return {
        "nodeSelector": {LABEL: "real"},
        "tolerations": [{"key": LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
    }


def _job(lab: dict, ns: str, name: str, script: str, env: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "spec": {
                    **_on_node(lab),
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "main",
                            "image": lab["node"]["images"]["tools"],
                            "command": ["bash", "-c", script],
                            "env": env or [],
                        }
                    ],
                }
            },
        },
    }


def _wait_job(lab: dict, ns: str, name: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _json(lab, "get", "job", name, "-n", ns)
        for c in job.get("status", {}).get("conditions", []):
            if c["type"] in ("Complete", "Failed") and c["status"] == "True":
                return c["type"]
        time.sleep(0.5)
    pods = kubectl(lab, "get", "pods", "-n", ns, "-o", "wide", check=False).stdout
    events = kubectl(lab, "get", "events", "-n", ns, check=False).stdout
    raise AssertionError(f"job {ns}/{name} did not finish in {timeout:.0f}s\n{pods}\n{events}")


def _job_pod(lab: dict, ns: str, name: str) -> dict:
    pods = _json(lab, "get", "pods", "-n", ns, "-l", f"job-name={name}")["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def _logs(lab: dict, ns: str, pod: dict) -> str:
    return kubectl(lab, "logs", "-n", ns, pod["metadata"]["name"], check=False).stdout


# --------------------------------------------------------------------------- tests
def test_node_is_ready_with_containerd_label_and_taint(lab):
    info = lab["node"]
    node = _json(lab, "get", "node", info["name"])
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True", ready
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == lab["controlplane"]["version"]
    assert node["metadata"]["labels"][LABEL] == "real"
    assert {"key": LABEL, "value": "real", "effect": "NoSchedule"} in node["spec"]["taints"]
    # kwok manages the fake nodes only: the real node's heartbeat comes from its kubelet
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
    assert node["status"]["addresses"][0]["address"] == info["host_address"]


def test_job_writes_a_row_to_the_lab_postgresql(lab, namespace):
    import psycopg
    from psycopg import sql

    pg = lab.get("postgres")
    if not pg or not _port_open("127.0.0.1", pg["primary"]["port"]):
        pytest.skip("the lab PostgreSQL is not up: run scripts/lab up postgres")
    role, password, token = f"lab_node_{secrets.token_hex(4)}", secrets.token_hex(16), secrets.token_hex(8)
    table = f"{role}_rows"
    with psycopg.connect(pg["primary"]["dsn"], autocommit=True) as db:
        db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        db.execute(f"CREATE TABLE {table} (token text, pod_ip inet DEFAULT inet_client_addr())")
        db.execute(f"GRANT INSERT ON {table} TO {role}")
    try:
        kubectl(lab, "create", "secret", "generic", "pg", "-n", namespace, "--from-literal=password=" + password)
        env = [
            {"name": "PGHOST", "value": lab["node"]["host_address"]},
            {"name": "PGPORT", "value": str(pg["primary"]["port"])},
            {"name": "PGUSER", "value": role},
            {"name": "PGDATABASE", "value": pg["primary"]["dbname"]},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}},
            {"name": "PGCONNECT_TIMEOUT", "value": "5"},
        ]
        job = _job(
            lab,
            namespace,
            "writer",
            "echo started=$(date +%s.%N); "
            f"psql -v ON_ERROR_STOP=1 -c \"INSERT INTO {table} (token) VALUES ('{token}')\"",
            env,
        )
        t_apply = time.time()
        kubectl(lab, "apply", "-f", "-", stdin=json.dumps(job))
        result = _wait_job(lab, namespace, "writer")
        pod = _job_pod(lab, namespace, "writer")
        assert result == "Complete", _logs(lab, namespace, pod)
        assert pod["spec"]["nodeName"] == lab["node"]["name"]
        state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert state["exitCode"] == 0
        # the container's first command prints the time (same clock as this test's): kubectl apply -> running
        started = float(_logs(lab, namespace, pod).split("started=", 1)[1].split()[0])
        print(f"\njob applied -> its container running: {started - t_apply:.2f}s")
        assert started - t_apply < 30, "the node takes far longer than its 5 s budget to start a Job's container"
        with psycopg.connect(pg["primary"]["dsn"]) as db:
            rows = db.execute(f"SELECT token, host(pod_ip) FROM {table}").fetchall()
        assert len(rows) == 1 and rows[0][0] == token, rows
        assert rows[0][1] == pod["status"]["podIP"], "the row came over the pod network, from the pod's address"
    finally:
        with psycopg.connect(pg["primary"]["dsn"], autocommit=True) as db:
            db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute(f"DROP ROLE IF EXISTS {role}")


def test_job_that_exits_3_fails_with_exit_code_3(lab, namespace):
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(_job(lab, namespace, "exit3", "echo failing on purpose; exit 3")))
    assert _wait_job(lab, namespace, "exit3") == "Failed"
    pod = _job_pod(lab, namespace, "exit3")
    assert pod["status"]["phase"] == "Failed"
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3, term
    assert "failing on purpose" in _logs(lab, namespace, pod)


def test_pod_has_no_route_off_the_machine_and_reaches_only_the_lab_servers(lab, namespace):
    """The pod's routing table holds its subnet and one host route back to the host's end of the veth only. On this
    host it opens the lab's servers that the node forwards (PostgreSQL, Redis) at host_address, and not the kubelet or
    the API server."""
    gw = lab["node"]["host_address"]
    reachable = lab["node"]["pod_reachable_ports"]
    # ports that are open on this host (the kubelet on the bridge address, the API server on 127.0.0.1), not for pods
    kubelet = _json(lab, "get", "node", lab["node"]["name"])["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    apiserver = int(lab["controlplane"]["server"].rsplit(":", 1)[1])
    expect = {int(kubelet): "closed", apiserver: "closed"}
    for name in ("postgres_primary", "redis"):
        if _port_open("127.0.0.1", reachable[name]):
            expect[reachable[name]] = "open"
    assert "open" in expect.values(), "no lab server that pods may reach is up: run scripts/lab up postgres"
    probes = "\n".join(f"probe {gw} {port}" for port in expect)
    script = f"""
cat /proc/net/route
probe() {{ if timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then echo "open $1:$2"; \
else echo "closed $1:$2"; fi; }}
{probes}
"""
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(_job(lab, namespace, "net", script)))
    assert _wait_job(lab, namespace, "net") == "Complete"
    out = _logs(lab, namespace, _job_pod(lab, namespace, "net"))
    routes = [line.split() for line in out.splitlines()[1:] if line.startswith(("eth0", "lo"))]
    assert routes, out
    assert all(r[1] != "00000000" for r in routes), f"a default route in the pod:\n{out}"
    # through the gateway: one host route back to the host's end of the veth (replies to the lab's Traefik), no other
    via_gateway = [r for r in routes if r[2] != "00000000"]
    back = socket.inet_aton(lab["node"]["host_source_address"])[::-1].hex().upper()  # /proc/net/route's byte order
    assert [(r[1], r[7]) for r in via_gateway] == [(back, "FFFFFFFF")], f"a route through a gateway in the pod:\n{out}"
    for port, state in expect.items():
        assert f"{state} {gw}:{port}" in out, out


def test_pod_reaches_a_local_stand_in_on_a_loopback_service_clusterip(lab, namespace):
    """The lab's Service ClusterIPs are loopback addresses that local stand-ins bind (as for Traefik);
    a pod on the node reaches one through the bridge (lab/cni/lab-loopback-services)."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "standin", "namespace": namespace},
        "spec": {"ports": [{"port": 8069, "targetPort": 8069}]},  # no selector: the stand-in is the backend
    }
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(svc))
    ip = _json(lab, "get", "service", "standin", "-n", namespace)["spec"]["clusterIP"]
    assert ip.startswith("127."), ip
    greeting = secrets.token_hex(8)
    seen: list[str] = []
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, 8069))
    srv.listen()
    srv.settimeout(90)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, addr = srv.accept()
            with conn:
                seen.append(addr[0])
                conn.sendall(greeting.encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        script = f"exec 3<>/dev/tcp/{ip}/8069 && head -1 <&3"
        kubectl(lab, "apply", "-f", "-", stdin=json.dumps(_job(lab, namespace, "client", script)))
        result = _wait_job(lab, namespace, "client")
        pod = _job_pod(lab, namespace, "client")
        out = _logs(lab, namespace, pod)
        assert result == "Complete", out
        assert greeting in out
        assert seen == [pod["status"]["podIP"]], seen
    finally:
        srv.close()
        thread.join(5)


# --------------------------------------------------------------------------- identities
NODE_NAME = "lab-real-0"
# what each process of the node needs (allowed) and a sample of what it must not do (refused), as SubjectAccessReviews:
# (verb, group, resource, subresource, namespace, name[, field selector])
IDENTITY_CHECKS = {
    "kubelet": {
        "allowed": [
            ("get", "", "nodes", "", "", NODE_NAME),
            ("patch", "", "nodes", "status", "", NODE_NAME),
            ("list", "", "pods", "", "", "", f"spec.nodeName={NODE_NAME}"),
        ],
        "refused": [
            ("list", "", "pods", "", "", ""),  # the Node authorizer: only its own pods (by field selector)
            ("list", "", "secrets", "", "", ""),
            ("get", "", "secrets", "", "kube-system", "any"),
            ("delete", "", "namespaces", "", "", "default"),
            ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""),
        ],
    },
    "kube-proxy": {
        "allowed": [
            ("list", "", "services", "", "", ""),
            ("watch", "", "services", "", "", ""),
            ("list", "discovery.k8s.io", "endpointslices", "", "", ""),
            ("watch", "discovery.k8s.io", "endpointslices", "", "", ""),
            ("get", "", "nodes", "", "", NODE_NAME),
        ],
        "refused": [
            ("get", "", "secrets", "", "kube-system", "any"),
            ("delete", "", "namespaces", "", "", "default"),
            ("list", "", "pods", "", "", ""),
            ("create", "", "services", "", "default", ""),
        ],
    },
    "coredns": {
        "allowed": [
            ("list", "", "services", "", "", ""),
            ("watch", "", "services", "", "", ""),
            ("list", "", "namespaces", "", "", ""),
            ("watch", "", "namespaces", "", "", ""),
            ("list", "discovery.k8s.io", "endpointslices", "", "", ""),
            ("watch", "discovery.k8s.io", "endpointslices", "", "", ""),
        ],
        "refused": [
            ("get", "", "secrets", "", "kube-system", "any"),
            ("list", "", "secrets", "", "", ""),
            ("delete", "", "namespaces", "", "", "default"),
            ("list", "", "pods", "", "", ""),
            ("list", "", "endpoints", "", "", ""),
            ("update", "", "services", "", "kube-system", "kube-dns"),
        ],
    },
    "kube-router": {
        "allowed": [
            ("list", "", "pods", "", "", ""),
            ("watch", "", "pods", "", "", ""),
            ("list", "", "namespaces", "", "", ""),
            ("list", "networking.k8s.io", "networkpolicies", "", "", ""),
            ("watch", "networking.k8s.io", "networkpolicies", "", "", ""),
            ("get", "", "nodes", "", "", NODE_NAME),
            ("list", "", "nodes", "", "", ""),
            ("list", "", "services", "", "", ""),
            ("list", "discovery.k8s.io", "endpointslices", "", "", ""),
        ],
        "refused": [
            ("get", "", "secrets", "", "kube-system", "any"),
            ("delete", "", "namespaces", "", "", "default"),
            ("delete", "networking.k8s.io", "networkpolicies", "", "default", "any"),
            ("patch", "", "nodes", "", "", NODE_NAME),
            ("create", "", "pods", "", "default", ""),
        ],
    },
}


def _in_node_netns(lab: dict, *argv: str) -> subprocess.CompletedProcess:
    """``argv`` in the node's network namespace, where the node's kubeconfigs reach the API server (over the veth)."""
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{lab['node']['netns']}", "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_each_node_process_runs_as_its_own_least_privileged_user(lab):
    """kubelet, kube-proxy, CoreDNS and kube-router each authenticate with a client certificate of their own (the
    API server says who they are: `kubectl auth whoami` with their kubeconfig), none in system:masters; the API
    server's authorizers (Node, RBAC) allow each what it needs and refuse it the rest (SubjectAccessReviews for the
    user and groups it authenticated as); the running processes read those kubeconfigs."""
    import yaml

    identities = lab["node"].get("identities")
    assert identities and set(identities) == set(IDENTITY_CHECKS), identities
    reviews, expected = [], []
    for name, ident in identities.items():
        cfg = yaml.safe_load(Path(ident["kubeconfig"]).read_text())
        (user,) = cfg["users"]
        assert user["name"] == ident["user"] != "lab-admin", cfg["users"]
        assert "admin" not in user["user"]["client-certificate"], user
        who = _in_node_netns(lab, lab["controlplane"]["kubectl"], "--kubeconfig", ident["kubeconfig"],
                             "auth", "whoami", "-o", "json")
        assert who.returncode == 0, f"{name}: {who.stderr}"
        info = json.loads(who.stdout)["status"]["userInfo"]
        assert info["username"] == ident["user"], (name, info)
        assert set(ident["groups"]) <= set(info["groups"]) and "system:masters" not in info["groups"], (name, info)
        for outcome, checks in IDENTITY_CHECKS[name].items():
            for verb, group, resource, sub, ns, obj, *fields in checks:
                attrs = {"verb": verb, "group": group, "resource": resource, "subresource": sub,
                         "namespace": ns, "name": obj}
                if fields:
                    attrs["fieldSelector"] = {"rawSelector": fields[0]}
                reviews.append({
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": {"user": info["username"], "groups": info["groups"], "resourceAttributes": attrs},
                })
                expected.append((name, outcome, attrs))
    out = kubectl(lab, "create", "-o", "json", "-f", "-",
                  stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": reviews}))
    results, pos, decoder = [], 0, json.JSONDecoder()  # kubectl prints one JSON document per object created
    while pos < len(out.stdout.rstrip()):
        doc, pos = decoder.raw_decode(out.stdout, pos)
        results.append(doc)
        while pos < len(out.stdout) and out.stdout[pos].isspace():
            pos += 1
    assert len(results) == len(expected)
    wrong = [
        f"{name}: {attrs} {'refused' if outcome == 'allowed' else 'allowed'} ({res['status'].get('reason', '')})"
        for (name, outcome, attrs), res in zip(expected, results, strict=True)
        if res["status"].get("allowed", False) != (outcome == "allowed")
    ]
    assert not wrong, "\n".join(wrong)

    # the running processes authenticate with those kubeconfigs (CoreDNS's names it in its Corefile)
    node_dir = LAB_DIR / "node"
    for name in ("kube-proxy", "kube-router"):
        pid = (node_dir / f"{name}.pid").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert f"--kubeconfig={identities[name]['kubeconfig']}" in argv, (name, argv)
    assert f"kubeconfig {identities['coredns']['kubeconfig']} lab" in (node_dir / "Corefile").read_text()
    assert f"--kubeconfig={identities['kubelet']['kubeconfig']}" in Path(
        f"/proc/{(node_dir / 'kubelet.pid').read_text().strip()}/cmdline"
    ).read_bytes().decode().split("\0")


KUBELET_API_CHECKS = {
    "allowed": [
        ("get", "", "nodes", "proxy", "", NODE_NAME),
        ("create", "", "nodes", "proxy", "", NODE_NAME),
        ("get", "", "nodes", "log", "", NODE_NAME),
        ("get", "", "nodes", "stats", "", NODE_NAME),
    ],
    "refused": [
        ("get", "", "secrets", "", "kube-system", "any"),
        ("list", "", "pods", "", "", ""),
        ("create", "", "pods", "exec", "default", "any"),
        ("delete", "", "namespaces", "", "", "default"),
        ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""),
    ],
}


def test_the_api_server_reaches_the_kubelet_as_its_own_user_not_the_admin(lab, namespace):
    """The API server's client certificate for the kubelet API (--kubelet-client-certificate) is an identity of its
    own, kube-apiserver-kubelet-client in no group (not the lab admin's system:masters), which RBAC allows the
    built-in system:kubelet-api-admin only; the kubelet authorizes it by webhook (its configz, read through that very
    path); logs and exec of a pod on the real node work with it."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    client = lab["controlplane"]["kubelet_client"]
    cert = x509.load_pem_x509_certificate(Path(client["certificate"]).read_bytes())
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [client["user"]]
    assert client["user"] == "kube-apiserver-kubelet-client"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == [], cert.subject.rfc4514_string()
    (pidfile,) = LAB_DIR.glob("*/kube-apiserver.pid")
    argv = Path(f"/proc/{pidfile.read_text().strip()}/cmdline").read_bytes().decode().split("\0")
    assert f"--kubelet-client-certificate={client['certificate']}" in argv, argv
    assert not [a for a in argv if a.startswith("--kubelet-client") and "admin" in a], argv

    reviews, expected = [], []
    for outcome, checks in KUBELET_API_CHECKS.items():
        for verb, group, resource, sub, ns, obj in checks:
            attrs = {"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": ns,
                     "name": obj}
            reviews.append({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                            "spec": {"user": client["user"], "groups": ["system:authenticated"],
                                     "resourceAttributes": attrs}})
            expected.append((outcome, attrs))
    wrong = []
    for (outcome, attrs), review in zip(expected, reviews, strict=True):
        res = json.loads(kubectl(lab, "create", "-o", "json", "-f", "-", stdin=json.dumps(review)).stdout)
        if res["status"].get("allowed", False) != (outcome == "allowed"):
            wrong.append(f"{attrs} {'refused' if outcome == 'allowed' else 'allowed'}")
    assert not wrong, "\n".join(wrong)

    configz = json.loads(kubectl(lab, "get", "--raw", f"/api/v1/nodes/{NODE_NAME}/proxy/configz").stdout)
    auth = configz["kubeletconfig"]
    assert auth["authorization"]["mode"] == "Webhook" and auth["authentication"]["anonymous"]["enabled"] is False

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talk", "namespace": namespace},
           "spec": {**_on_node(lab), "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": lab["node"]["images"]["tools"],
                                    "command": ["bash", "-c", "echo ready to talk; exec sleep 300"]}]}}
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(pod))
    kubectl(lab, "wait", "--for=condition=Ready", "pod/talk", "-n", namespace, "--timeout=120s")
    assert "ready to talk" in kubectl(lab, "logs", "talk", "-n", namespace).stdout
    out = kubectl(lab, "exec", "talk", "-n", namespace, "--", "bash", "-c", "echo exec as $(id -u)")
    assert out.stdout.strip().startswith("exec as "), out


# --------------------------------------------------------------------------- images
PYC_CHECK = r"""
import importlib.util, json, pathlib, sys
root = pathlib.Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
kinds, stale = {}, []
for pyc in sorted(root.rglob("__pycache__/*.pyc")):
    src = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
    if not src.exists():
        continue
    head = pyc.read_bytes()[:16]
    flags = int.from_bytes(head[4:8], "little")
    if head[:4] != importlib.util.MAGIC_NUMBER:
        kind, ok = "other-magic", False
    elif flags & 1:
        kind = "checked-hash" if flags & 2 else "unchecked-hash"
        ok = head[8:16] == importlib.util.source_hash(src.read_bytes())
    else:
        st = src.stat()
        kind = "timestamp"
        mtime, size = int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF
        ok = head[8:16] == mtime.to_bytes(4, "little") + size.to_bytes(4, "little")
    kinds[kind] = kinds.get(kind, 0) + 1
    if not ok:
        stale.append(str(pyc))
os_pyc = root / "__pycache__" / f"os.{sys.implementation.cache_tag}.pyc"
# a .pth file runs at every start of Python: each one must be a file that an installed package's RECORD lists
site = root / "site-packages"
owned = {line.split(",")[0] for record in site.glob("*.dist-info/RECORD") for line in record.read_text().splitlines()}
print(json.dumps({"kinds": kinds, "stale": len(stale), "some_stale": stale[:10],
                  "os_flags": int.from_bytes(os_pyc.read_bytes()[4:8], "little"),
                  "unowned_pth": sorted(p.name for p in site.glob("*.pth") if p.name not in owned)}))
"""


def test_python_images_ship_bytecode_that_python_uses_as_it_is(lab, namespace):
    """The python-base image (the backup runner's base): every .pyc of the standard library and site-packages matches
    its source as Python checks it (by hash; pyenv's were by an mtime that the layer's clamped times no longer had),
    so no process compiles the stdlib again or writes bytecode into a layer; and every .pth file that Python runs at
    start is one that an installed package put there (none of the build machine's). Run in the backup runner
    image."""
    job = _job(lab, namespace, "pyc", "")
    container = job["spec"]["template"]["spec"]["containers"][0]
    container.update(image=lab["node"]["images"]["backup-runner"], command=["python3", "-c", PYC_CHECK])
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(job))
    result = _wait_job(lab, namespace, "pyc")
    out = _logs(lab, namespace, _job_pod(lab, namespace, "pyc"))
    assert result == "Complete", out
    report = json.loads(out.strip().splitlines()[-1])
    print(f"\nbytecode of the backup runner image: {report['kinds']}")
    assert sum(report["kinds"].values()) > 1000, report
    assert report["stale"] == 0, report
    assert report["os_flags"] & 1, f"the stdlib's bytecode is validated by timestamp: {report}"
    # nothing of the build machine's own Python setup (pyenv's site-packages held _sandboxing_egress_ca.pth)
    assert report["unowned_pth"] == [], report


# --------------------------------------------------------------------------- down / up
def _node_leftovers(lab: dict) -> list[str]:
    node_dir = LAB_DIR / "node"
    info = lab["node"]
    found = []
    with open("/proc/self/mountinfo") as fh:
        found += [f"mount {line.split()[4]}" for line in fh if str(node_dir) in line.split()[4]]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=False).stdout
    bridge = f"labnode{info['pod_cidr'].split('.')[2]}"
    found += [f"link {line.split()[0]}" for line in links.splitlines() if bridge in line]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    found += [f"iptables {line}" for line in rules.splitlines() if "LAB-NODE-" + info["pod_cidr"].split(".")[2] in line]
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cg = (d / "cgroup").read_text()
        except OSError:
            continue
        if info["containerd_socket"] in cmd or f":{info['cgroup_root']}/" in cg or str(node_dir) in cmd:
            found.append(f"process {d.name}: {cmd[:120]}")
    cgroups = [p for p in Path("/sys/fs/cgroup").glob("*" + info["cgroup_root"]) if p.is_dir()]
    found += [f"cgroup {p}" for p in cgroups]
    for ns in Path("/run/netns").glob("cni-*") if Path("/run/netns").is_dir() else []:
        out = subprocess.run(
            ["ip", "-n", ns.name, "-4", "-o", "addr"], capture_output=True, text=True, check=False
        ).stdout
        prefix = info["pod_cidr"].rsplit(".", 1)[0] + "."
        if prefix in out:
            found.append(f"netns {ns.name}")
    # the node's own network namespace: its bridge, kube-proxy's and kube-router's chains and ipsets go with it
    if info.get("netns") and Path("/run/netns", info["netns"]).exists():
        found.append(f"netns {info['netns']}")
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    found += [f"route {line}" for line in routes.splitlines() if line.startswith(info["pod_cidr"] + " ")]
    # the local volumes' directories
    if info.get("volumes") and Path(info["volumes"]["dir"]).exists():
        found.append(f"directory {info['volumes']['dir']}")
    return found


@pytest.mark.skipif(
    os.environ.get("LAB_LIFECYCLE_TEST") != "1",
    reason="stops the whole lab; set LAB_LIFECYCLE_TEST=1 to run it (alone)",
)
def test_down_leaves_nothing_and_up_brings_the_node_back_ready_without_old_pods(lab, namespace):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sleeper", "namespace": namespace},
        "spec": {
            **_on_node(lab),
            "containers": [{"name": "main", "image": lab["node"]["images"]["tools"], "command": ["sleep", "3600"]}],
        },
    }
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(pod))
    kubectl(lab, "wait", "--for=condition=Ready", "pod/sleeper", "-n", namespace, "--timeout=60s")
    uid = _json(lab, "get", "pod", "sleeper", "-n", namespace)["metadata"]["uid"]
    assert _node_leftovers(lab), "the check finds a running node's processes, mounts and links"
    components = [k for k in lab if k != "env" and isinstance(lab[k], dict)]

    saved = LAB_DIR / "node" / "kernel-tunables.json"  # what the kernel had before the kubelet changed it
    before = json.loads(saved.read_text()) if saved.exists() else {}
    down = subprocess.run([*LAB, "down"], capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    leftovers = _node_leftovers(lab)
    leftovers += [
        f"sysctl {key} = {Path('/proc/sys', key).read_text().strip()} (was {value})"
        for key, value in before.items()
        if Path("/proc/sys", key).read_text().strip() != value
    ]
    t = time.monotonic()
    up = subprocess.run([*LAB, "up", *components], capture_output=True, text=True, timeout=900, cwd=REPO, check=False)
    t_up = time.monotonic() - t
    assert not leftovers, "left behind by `lab down`:\n" + "\n".join(leftovers) + "\n" + down.stderr
    assert up.returncode == 0, up.stderr
    print(f"\nlab up after down: {t_up:.1f}s")
    node = _json(lab, "get", "node", lab["node"]["name"])
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
    pods = _json(lab, "get", "pods", "-A", f"--field-selector=spec.nodeName={lab['node']['name']}")["items"]
    assert uid not in [p["metadata"]["uid"] for p in pods], "a pod from before `lab down` is back"
    tasks = subprocess.run(
        ["ctr", "--address", lab["node"]["containerd_socket"], "-n", "k8s.io", "tasks", "ls", "-q"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert not tasks, f"containers from before `lab down` still run: {tasks}"


# --------------------------------------------------------------------------- readiness
def _deployment(lab: dict, ns: str, name: str, probe: list[str]) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 15,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **_on_node(lab),
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "main",
                            "image": lab["node"]["images"]["tools"],
                            "command": ["sleep", "3600"],
                            "readinessProbe": {"exec": {"command": probe}, "periodSeconds": 1, "failureThreshold": 1},
                        }
                    ],
                },
            },
        },
    }


def _deployment_condition(lab: dict, ns: str, name: str, cond: str) -> dict:
    dep = _json(lab, "get", "deployment", name, "-n", ns)
    return next((c for c in dep.get("status", {}).get("conditions", []) if c["type"] == cond), {})


def test_deployment_whose_readiness_probe_fails_never_becomes_available(lab, namespace):
    """The probe really runs in the container: `false` keeps the pod unready, `true` makes it Available."""
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(_deployment(lab, namespace, "broken", ["false"])))
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(_deployment(lab, namespace, "working", ["true"])))
    ok = kubectl(lab, "rollout", "status", "deployment/working", "-n", namespace, "--timeout=60s", check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert _deployment_condition(lab, namespace, "working", "Available").get("status") == "True"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progressing = _deployment_condition(lab, namespace, "broken", "Progressing")
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the broken Deployment did not exceed its progress deadline: {progressing}")
    assert _deployment_condition(lab, namespace, "broken", "Available").get("status") == "False"
    pods = _json(lab, "get", "pods", "-n", namespace, "-l", "app=broken")["items"]
    assert pods and all(p["status"].get("phase") == "Running" for p in pods), "the container runs, unready"
    for p in pods:
        ready = next(c for c in p["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False", ready
    status = kubectl(lab, "rollout", "status", "deployment/broken", "-n", namespace, "--timeout=5s", check=False)
    assert status.returncode != 0, status.stdout
