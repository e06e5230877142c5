"""The real node's network: Services (kube-proxy), cluster DNS (CoreDNS) and enforced NetworkPolicy (kube-router).

Two tenants' namespaces, A and B, each with a listener pod on the real node (the lab's ``tools`` image: a small Perl
server that answers one line on 5432, "database-like", and on 8069, "Odoo-like") behind two Services, ``db`` and
``odoo``, and a client pod in A. Every connection is a real TCP connection from the client's container (bash
``/dev/tcp``, names resolved through the pod's resolv.conf, i.e. the lab's CoreDNS), through kube-proxy's rules to
the listener pod, with kube-router's firewall deciding.

* without policies, A's client resolves ``db.<B>.svc.cluster.local`` to the Service's ClusterIP and reads B's
  greeting through it;
* with the policies below on both namespaces, A's client still reaches its own ``db`` and ``odoo`` by name and
  cannot open a TCP connection to B's (the names still resolve: it is the connection that is refused);
* the node's chains (kube-proxy's, kube-router's) are in the node's network namespace, not in the host's tables.

The policies are the foundation role's ``default-deny-all`` and ``allow-dns-egress`` as it renders them
(plugins/module_utils/manifests/foundation.py, with its default ``foundation_dns``), plus two the lab needs in their
stead: the lab's CoreDNS is a process of the node, not a pod labelled ``k8s-app: kube-dns``, so the rendered DNS
allow selects nothing here and ``allow-dns-egress-lab-node`` allows DNS to the node's DNS address instead; and
``allow-same-tenant`` stands for the odoo role's allows between a tenant's own pods (Odoo to its database), which
select the role's own labels. ``lab down`` removing the node's namespace and every rule is checked by
test_lab_node.py's down/up test (LAB_LIFECYCLE_TEST=1).

Reads .lab/connection.json; skipped, with the reason, when the lab or its node is not up.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time

import pytest
import test_lab_node
from test_lab_node import _json, _on_node, kubectl

pytestmark = pytest.mark.lab
# test_lab_node.py's fixture: the connection details, skipped with the reason when the lab or its node is down
lab = test_lab_node.lab

LISTENER = r"""
use IO::Socket::INET; use IO::Select;
my $sel = IO::Select->new;
for my $port (5432, 8069) {
    my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $port, Listen => 16, ReuseAddr => 1)
        or die "listen $port: $!";
    $sel->add($s);
}
$| = 1; print "listening\n";
while (1) {
    for my $s ($sel->can_read) {
        my $c = $s->accept or next; print $c "$ENV{GREETING} " . $s->sockport . "\n"; close $c;
    }
}
"""


def _pod(lab: dict, ns: str, name: str, command: list[str], env: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            **_on_node(lab),
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": "main", "image": lab["node"]["images"]["tools"], "command": command, "env": env or []}
            ],
        },
    }


def _service(ns: str, name: str, port: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": "listener"}, "ports": [{"port": port, "targetPort": port}]},
    }


def _policies(lab: dict, ns: str) -> list[dict]:
    def policy(name: str, spec: dict) -> dict:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }

    dns = lab["node"]["dns"]["endpoint"]
    dns_ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return [
        # as roles/foundation renders them
        policy("default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            "allow-dns-egress",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": dns_ports,
                    }
                ],
            },
        ),
        # the lab's stand-ins for the allows that select what the lab does not have (see the module docstring)
        policy(
            "allow-dns-egress-lab-node",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": f"{dns}/32"}}], "ports": dns_ports}],
            },
        ),
        policy(
            "allow-same-tenant",
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
    ]


@pytest.fixture(scope="module")
def tenants(lab):
    """Namespaces A and B with their listeners and Services, and A's client; removed afterwards."""
    run_id = secrets.token_hex(3)
    a, b = f"lab-net-a-{run_id}", f"lab-net-b-{run_id}"
    try:
        for ns in (a, b):
            kubectl(lab, "create", "namespace", ns)
            objs = [
                _pod(lab, ns, "listener", ["perl", "-e", LISTENER], [{"name": "GREETING", "value": f"hi-from-{ns}"}]),
                _service(ns, "db", 5432),
                _service(ns, "odoo", 8069),
            ]
            if ns == a:
                objs.append(_pod(lab, ns, "client", ["sleep", "3600"]))
            kubectl(lab, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
        for ns, pod in ((a, "listener"), (b, "listener"), (a, "client")):
            kubectl(lab, "wait", "--for=condition=Ready", f"pod/{pod}", "-n", ns, "--timeout=120s")
        for ns in (a, b):
            deadline = time.monotonic() + 60
            while "listening" not in kubectl(lab, "logs", "-n", ns, "listener", check=False).stdout:
                assert time.monotonic() < deadline, kubectl(lab, "logs", "-n", ns, "listener", check=False).stderr
                time.sleep(0.5)
        yield {"a": a, "b": b}
    finally:
        for ns in (a, b):
            kubectl(lab, "delete", "namespace", ns, "--wait=false", check=False)


def _in_client(lab: dict, ns: str, script: str) -> subprocess.CompletedProcess:
    return kubectl(lab, "exec", "-n", ns, "client", "--", "bash", "-c", script, check=False)


def _connect(lab: dict, ns: str, host: str, port: int) -> str | None:
    """The greeting read over a new TCP connection from A's client, or None when it cannot connect."""
    res = _in_client(lab, ns, f'timeout 3 bash -c "exec 3<>/dev/tcp/{host}/{port} && head -1 <&3"')
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def _until(what: str, pred, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(1)


def test_pod_reaches_another_namespaces_service_by_its_dns_name(lab, tenants):
    a, b = tenants["a"], tenants["b"]
    domain = lab["node"]["dns"]["cluster_domain"]
    name = f"db.{b}.svc.{domain}"
    cluster_ip = _json(lab, "get", "service", "db", "-n", b)["spec"]["clusterIP"]
    # CoreDNS and kube-proxy learn of the new Services through their watches, a moment after the API server: wait
    # (with a deadline) until the name resolves and the ClusterIP answers, then check what they answer
    _until(f"{name} resolves in {a}", lambda: _in_client(lab, a, f"getent hosts {name}").returncode == 0)
    resolved = _in_client(lab, a, f"getent hosts {name}; cat /etc/resolv.conf")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert resolved.stdout.split()[0] == cluster_ip, resolved.stdout
    assert f"nameserver {lab['node']['dns']['service_ip']}" in resolved.stdout
    # kube-proxy takes the connection to the ClusterIP to B's listener pod
    _until(f"{name}:5432 answers in {a}", lambda: _connect(lab, a, name, 5432) is not None)
    assert _connect(lab, a, name, 5432) == f"hi-from-{b} 5432"
    assert _connect(lab, a, f"odoo.{b}.svc.{domain}", 8069) == f"hi-from-{b} 8069"
    # the short name resolves through the pod's search path, within its own namespace
    assert _connect(lab, a, "db", 5432) == f"hi-from-{a} 5432"
    # the lab's DNS answers for the cluster only: nothing off this machine
    assert _in_client(lab, a, "getent hosts example.com").returncode != 0


def test_a_host_client_reaches_a_pod_at_its_own_address(lab, tenants):
    """As the lab's Traefik does (a process on the host): a TCP connection to the pod's address, from the host's end
    of the veth, gets the pod's answer; the pod's reply needs its host route back to that address."""
    pod = _json(lab, "get", "pod", "listener", "-n", tenants["a"])
    address = pod["status"]["podIP"]
    with socket.create_connection((address, 8069), timeout=10) as conn:
        assert conn.getsockname()[0] == lab["node"]["host_source_address"]
        conn.settimeout(10)
        greeting = conn.makefile().readline().strip()
    assert greeting == f"hi-from-{tenants['a']} 8069"


def test_network_policies_isolate_tenants_on_the_real_node(lab, tenants):
    a, b = tenants["a"], tenants["b"]
    domain = lab["node"]["dns"]["cluster_domain"]
    for ns in (a, b):
        items = _policies(lab, ns)
        kubectl(lab, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    own = {port: f"{svc}.{a}.svc.{domain}" for svc, port in (("db", 5432), ("odoo", 8069))}
    other = {port: f"{svc}.{b}.svc.{domain}" for svc, port in (("db", 5432), ("odoo", 8069))}
    # kube-router applies the policies as it sees them: wait (a deadline of minutes) until it has
    for port, host in other.items():
        _until(f"{host}:{port} refused to {a}", lambda host=host, port=port: _connect(lab, a, host, port) is None)
    for port, host in own.items():
        _until(f"{host}:{port} open to {a}", lambda host=host, port=port: _connect(lab, a, host, port) is not None)
        assert _connect(lab, a, host, port) == f"hi-from-{a} {port}"
    for _attempt in range(3):  # and it stays so
        for port, host in other.items():
            assert _connect(lab, a, host, port) is None, f"{a} opened {host}:{port} despite the policies"
    # the name still resolves (DNS is allowed): it is the connection that the policies refuse
    cluster_ip = _json(lab, "get", "service", "db", "-n", b)["spec"]["clusterIP"]
    resolved = _in_client(lab, a, f"getent hosts {other[5432]}")
    assert resolved.returncode == 0 and resolved.stdout.split()[0] == cluster_ip, resolved.stdout + resolved.stderr
    # without the policies A reaches B again: it was the policies that refused the connections
    for ns in (a, b):
        kubectl(lab, "delete", "networkpolicy", "--all", "-n", ns)
    _until(f"{other[5432]} open again without policies", lambda: _connect(lab, a, other[5432], 5432) is not None)


def test_node_chains_live_in_the_node_namespace_not_the_hosts(lab):
    netns = lab["node"]["netns"]
    inside = subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "iptables-save"], capture_output=True, text=True, check=True
    ).stdout
    for chain in ("KUBE-SERVICES", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-INPUT"):
        assert f":{chain} " in inside, f"{chain} missing in the node namespace {netns}"
    host = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    leaked = [line for line in host.splitlines() if "KUBE-ROUTER" in line or "KUBE-SVC-" in line]
    assert not leaked, "kube-proxy's or kube-router's rules in the host's tables:\n" + "\n".join(leaked[:20])
    sets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=True).stdout.split()
    assert not [s for s in sets if s.startswith("KUBE-")], f"kube-router's ipsets on the host: {sets}"
