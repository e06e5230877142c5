"""The lab's real worker node: containerd + runc, a local OCI registry, kubelet, a CNI bridge.

Beside the kwok nodes (which run nothing), one node runs real containers:

* **registry**: Debian's docker-registry (the CNCF distribution registry) on loopback, storage
  under ``.lab/node/registry``. The lab's images (``lab/images/``, built here from Debian
  packages) are pushed there and referenced by digest.
* **containerd** with the runc runtime and the cgroupfs driver, its own config, root, state and
  socket under ``.lab/node``, open-files limit set explicitly (the host's hard limit is 20000).
* **kubelet** (built with the control plane), registered as ``lab-real-0`` with a client
  certificate signed by the lab CA (``system:node:lab-real-0``, group ``system:nodes``), labelled
  ``lab.governed.odoo/node=real`` and tainted ``lab.governed.odoo/node=real:NoSchedule``: only pods that
  tolerate the taint (and select the label) land on it. Its cgroups live under ``/governed-odoo-lab-<N>``
  so that the labs of several checkouts do not meet.
* **pod network**: a bridge (``labnode<N>``) that the lab creates with ``NODE_GATEWAY`` on it, the CNI
  ``bridge`` and ``host-local`` plugins handing out addresses of ``NODE_POD_CIDR``. Pods get the
  bridge's subnet route and a host route to ``TRANSIT_HOST`` (so that replies to host clients, the lab's
  Traefik among them, find their way back), and nothing else: no default route, no masquerading, so no
  route off the machine.
  A pod reaches the lab's servers (PostgreSQL, Redis, S3, Traefik; all on 127.0.0.1) at
  ``NODE_GATEWAY:<same port>``, through a DNAT of the lab's own, and the loopback Service ClusterIPs
  that local stand-ins bind (lab/cni/lab-loopback-services), and nothing else on this host.

* **local volumes**: a pool of ``VOLUME_POOL`` PersistentVolumes of StorageClass ``STORAGE_CLASS`` (no
  provisioner, WaitForFirstConsumer), each a directory under ``.lab/node/volumes`` with nodeAffinity to the
  node: a pod on the node that claims one (a PostgreSQL StatefulSet's volumeClaimTemplate) writes to that
  directory, and it outlives the pod. A volume whose claim was deleted (Released) is wiped and made Available
  again by the next ``up``; ``down`` deletes the volumes and their directories.

* **identities**: kube-proxy, CoreDNS and kube-router have client certificates of their own too (``IDENTITIES``):
  kube-proxy is ``system:kube-proxy`` (the built-in binding ``system:node-proxier``), CoreDNS and kube-router are
  ``lab:coredns`` and ``lab:kube-router``, bound to read-only ClusterRoles of the lab's (``IDENTITY_RULES``).

``down`` leaves nothing behind: it deletes the node's pods (the API server still runs), stops
kubelet, kills what is left of the containers, stops containerd and the registry, unmounts every
mount under ``.lab/node``, removes the network namespaces of the node's pods, the bridge, the
cgroups and the IP allocations. ``up`` after ``down`` gives a Ready node with no earlier pods.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from common import (
    CACHE_DIR,
    HOST,
    LAB_DIR,
    LAB_INDEX,
    NODE_BRIDGE,
    NODE_GATEWAY,
    NODE_POD_CIDR,
    PORTS,
    TRANSIT_HOST,
    TRANSIT_NODE,
    TRANSIT_PREFIX,
    Component,
    LabError,
    Proc,
    log,
    pid_alive,
    port_open,
    run,
    wait_for,
)
from controlplane import SERVICE_CIDR

sys.path.insert(0, str(Path(__file__).resolve().parent / "images"))

K8S_VERSION = os.environ.get("LAB_K8S_VERSION", "v1.36.3")
K8S_BIN = CACHE_DIR / "bin" / f"kubernetes-{K8S_VERSION}"
COREDNS_VERSION = os.environ.get("LAB_COREDNS_VERSION", "v1.15.0")
KUBE_ROUTER_VERSION = os.environ.get("LAB_KUBE_ROUTER_VERSION", "v2.1.0")
NODE_BINARIES = {
    "kubelet": K8S_BIN / "kubelet",
    "kube-proxy": K8S_BIN / "kube-proxy",
    "coredns": CACHE_DIR / "bin" / f"coredns-{COREDNS_VERSION}" / "coredns",
    "kube-router": CACHE_DIR / "bin" / f"kube-router-{KUBE_ROUTER_VERSION}" / "kube-router",
}
NODE_NAME = "lab-real-0"
NODE_LABEL = "lab.governed.odoo/node"
NODE_LABEL_VALUE = "real"
CGROUP_ROOT = f"/governed-odoo-lab-{LAB_INDEX}"
CGROUP_V1 = Path("/sys/fs/cgroup")
NOFILE = 20000  # the host's hard limit; containerd's default for containers would exceed it
# backup-runner: images/backup-runner/Containerfile; offhours-scaler: the lab's kubectl (odoo_offhours.image);
# postgresql, redis: in-cluster placement (roles/postgresql, redis); odoo-standin: the lab inventory's instance on the
# node (odoo_image of civil-dev, its migration and neutralize Jobs)
IMAGES = ("pause", "tools", "backup-runner", "offhours-scaler", "postgresql", "redis", "odoo-standin")
# the node's local PersistentVolumes: a StorageClass of their own, a pool of directories under .lab/node/volumes
STORAGE_CLASS = "lab-real-local"
VOLUME_POOL = 6
VOLUME_CAPACITY = "20Gi"  # nominal (a directory has no size): the roles' default claims (20Gi, 2Gi) fit
# ReadWriteMany too: a local volume is one directory of the one node every pod using it is bound to (its nodeAffinity),
# so all of them share it, as the odoo role's filestore claim (ReadWriteMany) asks of the web and cron pods
VOLUME_ACCESS_MODES = ["ReadWriteOnce", "ReadWriteMany"]
VOLUME_LABEL = "lab.governed.odoo/volume-pool"
CNI_BIN = Path("/usr/lib/cni")
# the lab's chained CNI plugin: pods reach the loopback Service ClusterIPs that host stand-ins bind
LOOPBACK_SERVICES_PLUGIN = Path(__file__).resolve().parent / "cni" / "lab-loopback-services"
NETNS_DIR = Path("/run/netns")

# The node's own network namespace: the bridge, the pods' veths, containerd, the kubelet, kube-proxy,
# CoreDNS and kube-router live there, so that the iptables chains and ipsets of kube-proxy and kube-router
# never touch the host's tables (nor another lab's). A veth pair joins it to the host over a /30 of its own.
NODE_NETNS = f"labnode{LAB_INDEX}"
NODE_NETNS_PATH = NETNS_DIR / NODE_NETNS
HOST_VETH = f"labnode{LAB_INDEX}h"  # the host's end
NODE_VETH = "uplink"  # the node namespace's end
# TRANSIT_HOST on HOST_VETH, TRANSIT_NODE on NODE_VETH (lab/common.py)
# Cluster DNS: the kube-dns Service's ClusterIP (in the lab's Service range) and the address CoreDNS serves
# on inside the node namespace (the Service's endpoint)
CLUSTER_DOMAIN = "cluster.local"
DNS_SERVICE_IP = str(ipaddress.ip_network(SERVICE_CIDR).network_address + 10)
DNS_ENDPOINT = NODE_GATEWAY
# the `kubernetes` Service's ClusterIP (the first of the range), which in-cluster clients dial
APISERVER_SERVICE_IP = str(ipaddress.ip_network(SERVICE_CIDR).network_address + 1)
# ports inside the node namespace (its own loopback: no clash with the host's or another lab's)
NETNS_PORTS = {"kube_proxy_healthz": 10256, "kube_proxy_metrics": 10249, "coredns_health": 8080, "coredns_ready": 8181}


# the lab's servers (all on 127.0.0.1) that the node's pods may open, at NODE_GATEWAY:<same port>
POD_REACHABLE_PORTS = (
    "postgres_primary",
    "postgres_replica",
    "redis",
    "s3_a",
    "s3_b",
    "traefik_web",
    "traefik_websecure",
)
FIREWALL_CHAIN = f"LAB-NODE-{LAB_INDEX}"
DNAT_CHAIN = f"LAB-NODE-{LAB_INDEX}-DNAT"
# the node's own processes (not its pods) reach these host servers over the veth, from TRANSIT_NODE
NODE_HOST_PORTS = ("registry", "kube_apiserver")
# chains of the lab inside the node namespace
NS_INPUT_CHAIN = "LAB-NODE-INPUT"
NS_DNAT_CHAIN = "LAB-NODE-DNAT"
NS_FORWARD_COMMENT = "governed-odoo lab: loopback ClusterIPs that kube-proxy did not translate go to the host"


def _firewall_hooks(iface: str = HOST_VETH) -> list[tuple[str, str, str, list[str]]]:
    """(table, parent chain, lab chain, match) of the host's jumps into the lab's chains."""
    comment = ["-m", "comment", "--comment", f"governed-odoo lab {LAB_INDEX} node"]
    return [
        ("filter", "INPUT", FIREWALL_CHAIN, ["-i", iface, *comment]),
        (
            "nat",
            "PREROUTING",
            DNAT_CHAIN,
            ["-i", iface, "-d", TRANSIT_HOST if iface == HOST_VETH else NODE_GATEWAY, *comment],
        ),
    ]


def in_netns(argv: list[str]) -> list[str]:
    """``argv`` run in the node's network namespace (only that: not ``ip netns exec``, whose private mount
    namespace would hide the kubelet's and containerd's mounts from each other and from ``lab down``)."""
    return ["nsenter", f"--net={NODE_NETNS_PATH}", "--", *argv]


def _netns_id(path: Path = NODE_NETNS_PATH) -> tuple[int, int] | None:
    """(device, inode) of a network namespace file: the node's (its bind mount), or /proc/<pid>/ns/net."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _other_kubelets(mine: int | None) -> list[int]:
    """Pids of kubelets on this machine other than this lab's."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == mine:
            continue
        try:
            exe = (d / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if exe.endswith(b"/kubelet") or exe == b"kubelet":
            found.append(int(d.name))
    return found


# what the kubelet sets at start (setupKernelTunables, protectKernelDefaults: false); `down` puts back the
# values from before the kubelet's start when no other kubelet runs on this machine
KERNEL_TUNABLES = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


def node_selector() -> dict:
    """What a pod spec needs to run on the real node (nodeSelector and tolerations)."""
    return {
        "nodeSelector": {NODE_LABEL: NODE_LABEL_VALUE},
        "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": NODE_LABEL_VALUE, "effect": "NoSchedule"}],
    }


# Who each process of the node is to the API server (--authorization-mode=Node,RBAC): a client certificate of its own,
# signed by the lab CA, as in a cluster; none is the lab's admin. name: (user, groups)
IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    # a node: the Node authorizer and the NodeRestriction admission plugin hold it to its own Node and pods
    "kubelet": (f"system:node:{NODE_NAME}", ("system:nodes",)),
    # the user that the built-in ClusterRoleBinding system:node-proxier binds to the ClusterRole of that name
    "kube-proxy": ("system:kube-proxy", ()),
    # users of the lab's own, bound to the ClusterRoles of IDENTITY_RULES (identity_rbac)
    "coredns": ("lab:coredns", ()),
    "kube-router": ("lab:kube-router", ()),
}
IDENTITY_LABEL = "lab.governed.odoo/node-identity"  # on the ClusterRoles and bindings the lab makes (down deletes them)
# read-only, and only what each one's informers list and watch
IDENTITY_RULES: dict[str, list[dict]] = {
    # the kubernetes plugin's informers (plugin/kubernetes/controller.go of v1.15.0): CoreDNS's own ClusterRole
    # system:coredns without pods (`pods insecure` watches none) and endpoints (it reads EndpointSlices only)
    "coredns": [
        {"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ],
    # kube-router v2.1.0 starts the informers of all its controllers, whichever run (pkg/cmd/kube-router.go), and
    # its firewall gets its own Node: its ClusterRole (daemonset/*.yaml) without the writes of the router and the load
    # balancer allocator (services/status, leases), which the lab does not run
    "kube-router": [
        {
            "apiGroups": [""],
            "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
    ],
}


def identity_rbac() -> list[dict]:
    """A ClusterRole and a ClusterRoleBinding (to the user) for each of ``IDENTITY_RULES``, named after the user."""
    objs: list[dict] = []
    for name, rules in IDENTITY_RULES.items():
        user = IDENTITIES[name][0]
        meta = {"name": user, "labels": {IDENTITY_LABEL: NODE_NAME}}
        objs.append(
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}
        )
        objs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }
        )
    return objs


def issue_client_cert(ca, ca_key, user: str, groups: tuple[str, ...]) -> tuple[bytes, bytes]:
    """(certificate, key) PEM of a client certificate for ``user`` (CN) in ``groups`` (O), signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def cert_identity(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(CN, O values) of a certificate file, as the API server reads user and groups; None without a file."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = tuple(a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return (str(cn[0]) if cn else "", orgs)


def _mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below ``prefix``, deepest first (mountinfo escapes spaces as \\040)."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = line.split()[4].replace("\\040", " ")
            if mp == str(prefix) or mp.startswith(str(prefix) + "/"):
                found.append(mp)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


class Node(Component):
    def __init__(self) -> None:
        super().__init__(name="node")
        self.registry = Proc(self.name, "registry")
        self.containerd = Proc(self.name, "containerd")
        self.kubelet = Proc(self.name, "kubelet")
        self.kube_proxy = Proc(self.name, "kube-proxy")
        self.coredns = Proc(self.name, "coredns")
        self.kube_router = Proc(self.name, "kube-router")
        # stopped in reverse order
        self.procs = [self.registry, self.containerd, self.kubelet, self.kube_proxy, self.coredns, self.kube_router]
        self.cp_dir = LAB_DIR / "controlplane"
        self.sock = self.dir / "containerd" / "containerd.sock"
        self.kubelet_dir = self.dir / "kubelet"
        self.cni_conf = self.dir / "cni" / "net.d"
        self.cni_bin = self.dir / "cni" / "bin"
        self.ipam_dir = self.dir / "cni" / "ipam"
        self.volumes_dir = self.dir / "volumes"

    # ------------------------------------------------------------------ helpers
    @property
    def registry_addr(self) -> str:
        return f"{HOST}:{PORTS['registry']}"

    def supported(self, joining: bool = False) -> str | None:
        """Why the node cannot run here, or None. ``joining``: also that the lab's own API server runs now
        (with an external KUBECONFIG the lab starts none, and the node joins only the lab's own)."""
        if os.geteuid() != 0:
            return "the real node needs root (containers, network namespaces, cgroups)"
        missing = [
            b
            for b in ("containerd", "runc", "docker-registry", "skopeo", "mmdebstrap", "ctr", "nsenter", "ipset")
            if not shutil.which(b)
        ]
        missing += [str(CNI_BIN / p) for p in ("bridge", "host-local", "loopback") if not (CNI_BIN / p).exists()]
        if missing:
            return f"missing {', '.join(missing)}: run `bash lab/node-setup.sh` (scripts/setup.sh does)"
        missing = [name for name, path in NODE_BINARIES.items() if not path.exists()]
        if missing:
            return f"no {', '.join(missing)} built: run `bash lab/build-binaries.sh node`"
        if not (self.cp_dir / "pki" / "ca.key").exists():
            return "the lab control plane is external or not set up; the real node joins only the lab's own"
        if joining and not port_open(PORTS["kube_apiserver"]):
            return "the lab's own API server is not running (an external cluster?); the node joins only the lab's"
        return None

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        return run(
            [str(K8S_BIN / "kubectl"), "--kubeconfig", str(self.cp_dir / "kubeconfig"), *args],
            check=check,
            input=stdin,
            timeout=timeout,
        )

    def apply(self, objects, force_conflicts: bool = True) -> subprocess.CompletedProcess:
        """Server-side apply of the lab's own objects (field manager governed-odoo-lab)."""
        force = ["--force-conflicts"] if force_conflicts else []
        return self.kubectl("apply", "--server-side", *force, "--field-manager=governed-odoo-lab", "-f", "-",
                            stdin=yaml.safe_dump_all(objects))

    def ctr(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return run(["ctr", "--address", str(self.sock), "--namespace", "k8s.io", *args], check=check, timeout=60)

    # ------------------------------------------------------------------ PKI and identities
    def _node_pki(self) -> None:
        """A client certificate for each of ``IDENTITIES``, signed by the lab CA: all issued again when the CA
        changed (a control-plane reset), one when it is missing or names another identity (a lab of before)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        pki = self.dir / "pki"
        ca_crt = self.cp_dir / "pki" / "ca.crt"
        same_ca = (pki / "ca.crt").exists() and (pki / "ca.crt").read_bytes() == ca_crt.read_bytes()
        wanted = [
            name
            for name, (user, groups) in IDENTITIES.items()
            if not same_ca
            or not (pki / f"{name}-client.key").exists()
            or cert_identity(pki / f"{name}-client.crt") != (user, groups)
        ]
        if not wanted:
            return
        pki.mkdir(parents=True, exist_ok=True)
        os.chmod(pki, 0o700)
        ca = x509.load_pem_x509_certificate(ca_crt.read_bytes())
        ca_key = serialization.load_pem_private_key((self.cp_dir / "pki" / "ca.key").read_bytes(), password=None)
        for name in wanted:
            user, groups = IDENTITIES[name]
            cert, key = issue_client_cert(ca, ca_key, user, groups)
            key_path = pki / f"{name}-client.key"
            key_path.write_bytes(key)
            os.chmod(key_path, 0o600)
            (pki / f"{name}-client.crt").write_bytes(cert)
        shutil.copyfile(ca_crt, pki / "ca.crt")
        log(f"node: client certificates of {', '.join(wanted)} issued by the lab CA")

    @staticmethod
    def _api_cluster(ca: Path) -> dict:
        """The lab API server as the node namespace reaches it: over the veth to the host, DNAT'ed there to
        127.0.0.1; its certificate names localhost (and 127.0.0.1), not the transit address."""
        return {
            "server": f"https://{TRANSIT_HOST}:{PORTS['kube_apiserver']}",
            "certificate-authority": str(ca),
            "tls-server-name": "localhost",
        }

    def kubeconfig_path(self, name: str) -> Path:
        return self.dir / f"{name}.kubeconfig"

    def _kubeconfig(self, name: str) -> Path:
        """The kubeconfig of process ``name`` of ``IDENTITIES``: its own client certificate, context ``lab``."""
        pki = self.dir / "pki"
        user = IDENTITIES[name][0]
        path = self.kubeconfig_path(name)
        text = yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": self._api_cluster(pki / "ca.crt")}],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate": str(pki / f"{name}-client.crt"),
                            "client-key": str(pki / f"{name}-client.key"),
                        },
                    }
                ],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": user}}],
                "current-context": "lab",
            }
        )
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            os.chmod(path, 0o600)
        return path

    def _runs_as_own_identity(self, proc: Proc, name: str) -> bool:
        """Whether running ``proc`` reads its own kubeconfig (a lab of before started it with the admin's)."""
        kc = self.kubeconfig_path(name)
        if name == "coredns":  # the Corefile names its kubeconfig; it is written when CoreDNS starts
            corefile = self.dir / "Corefile"
            return corefile.exists() and f"kubeconfig {kc} lab" in corefile.read_text()
        try:
            cmdline = Path(f"/proc/{proc.pid()}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"--kubeconfig={kc}".encode() in cmdline

    def _identities(self) -> None:
        """Each process's kubeconfig; the ClusterRoles and ClusterRoleBindings of ``identity_rbac()`` applied when
        kube-proxy, CoreDNS or kube-router is to start (a warm `up` with all running applies nothing); one that
        runs as the lab's admin (started by a lab of before) is stopped first, and started again as itself."""
        for name in IDENTITIES:
            self._kubeconfig(name)
        services = {"kube-proxy": self.kube_proxy, "coredns": self.coredns, "kube-router": self.kube_router}
        for name, proc in services.items():
            if proc.running() and not self._runs_as_own_identity(proc, name):
                log(f"node: {name} runs with the lab's admin certificate; restarting it as {IDENTITIES[name][0]}")
                proc.stop()
        if not all(proc.running() for proc in services.values()):
            self.apply(identity_rbac())
        (self.dir / "node-services.kubeconfig").unlink(missing_ok=True)  # the admin's, of a lab of before

    def _identities_down(self, api_up: bool) -> None:
        if api_up:
            self.kubectl(
                "delete",
                "clusterrolebindings,clusterroles",
                "-l",
                f"{IDENTITY_LABEL}={NODE_NAME}",
                "--ignore-not-found",
                "--wait=false",
                check=False,
            )

    # ------------------------------------------------------------------ network
    def _network(self) -> None:
        """The node namespace, its bridge with the gateway address, the veth pair to the host and the routes.

        Node namespace: ``NODE_POD_CIDR`` on the bridge (pods), the transit /30 on ``uplink``, the loopback
        Service range routed to the host (the ClusterIPs that host stand-ins bind and kube-proxy does not
        translate), IP forwarding on (in this namespace only), bridged traffic through iptables (kube-proxy's
        replies between pods of one bridge, kube-router's policies). Host: the pod range routed over the veth,
        ``route_localnet`` on the veth only (the DNAT to 127.0.0.1). No default route anywhere: nothing leaves
        the machine, and the host's own forwarding stays as it is.
        """
        if not NODE_NETNS_PATH.exists():
            run(["ip", "netns", "add", NODE_NETNS])
        ns = ["ip", "-n", NODE_NETNS]
        run([*ns, "link", "set", "lo", "up"])
        if run(["ip", "link", "show", HOST_VETH], check=False).returncode != 0:
            run([*ns, "link", "delete", NODE_VETH], check=False)
            run(["ip", "link", "add", HOST_VETH, "type", "veth", "peer", "name", NODE_VETH, "netns", NODE_NETNS])
        run(["ip", "addr", "replace", f"{TRANSIT_HOST}/{TRANSIT_PREFIX}", "dev", HOST_VETH])
        run(["ip", "link", "set", HOST_VETH, "up"])
        run([*ns, "addr", "replace", f"{TRANSIT_NODE}/{TRANSIT_PREFIX}", "dev", NODE_VETH])
        run([*ns, "link", "set", NODE_VETH, "up"])
        if run([*ns, "link", "show", NODE_BRIDGE], check=False).returncode != 0:
            run([*ns, "link", "add", NODE_BRIDGE, "type", "bridge"])
        prefix = NODE_POD_CIDR.split("/")[1]
        run([*ns, "addr", "replace", f"{NODE_GATEWAY}/{prefix}", "dev", NODE_BRIDGE])
        run([*ns, "link", "set", NODE_BRIDGE, "up"])
        run([*ns, "route", "replace", SERVICE_CIDR, "via", TRANSIT_HOST, "dev", NODE_VETH, "table", "local"])
        run(
            in_netns(
                [
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv4.ip_forward=1",
                    f"net.ipv4.conf.{NODE_BRIDGE}.route_localnet=1",
                    f"net.ipv4.conf.{NODE_VETH}.route_localnet=1",
                    "net.bridge.bridge-nf-call-iptables=1",
                ]
            )
        )
        run(["ip", "route", "replace", NODE_POD_CIDR, "via", TRANSIT_NODE, "dev", HOST_VETH])
        Path(f"/proc/sys/net/ipv4/conf/{HOST_VETH}/route_localnet").write_text("1\n")

    def _iptables(self, *args: str, netns: bool = False, check: bool = True) -> subprocess.CompletedProcess:
        argv = ["iptables", "-w", *args]
        return run(in_netns(argv) if netns else argv, check=check)

    def _chains(self, chains: dict, netns: bool) -> None:
        """Each (table, chain) created or emptied and filled with its rules, all in one ``iptables-restore
        --noflush`` (a declared chain is created or flushed; nothing else of the tables is touched)."""
        lines = []
        for table in sorted({t for t, _ in chains}):
            lines.append(f"*{table}")
            lines += [f":{chain} - [0:0]" for t, chain in chains if t == table]
            for (t, chain), rules in chains.items():
                if t == table:
                    if any(" " in arg for r in rules for arg in r):
                        raise LabError(f"{chain}: a rule with a space (iptables-restore splits on spaces)")
                    lines += [" ".join(["-A", chain, *r]) for r in rules]
            lines.append("COMMIT")
        argv = ["iptables-restore", "-w", "--noflush"]
        run(in_netns(argv) if netns else argv, input="\n".join(lines) + "\n")

    def _node_firewall(self) -> None:
        """Inside the node namespace: what the pods may reach of the node itself and of the host.

        nat ``LAB-NODE-DNAT`` (PREROUTING, from the bridge to ``NODE_GATEWAY``) sends the lab servers' ports to
        the host's end of the veth, where the host's chain sends them on to 127.0.0.1, leaves DNS (53) and the
        API server's port (nothing listens on it in the namespace: pods reach the API server at its advertised
        address, not at the gateway) to the node, and sends every other port there too, where the host's chain
        rejects it: kube-router's INPUT chain comes first in the node's filter table and accepts a pod's traffic
        that no NetworkPolicy denies, the kubelet's port on the gateway included. filter ``LAB-NODE-INPUT`` (INPUT from the bridge: DNS, else
        reject) guards the node while kube-router does not run.
        """
        ports = [PORTS[p] for p in POD_REACHABLE_PORTS]
        self._chains(
            {
                ("nat", NS_DNAT_CHAIN): [
                    *(
                        ["-p", "tcp", "--dport", str(p), "-j", "DNAT", "--to-destination", f"{TRANSIT_HOST}:{p}"]
                        for p in ports
                    ),
                    ["-p", "udp", "--dport", "53", "-j", "RETURN"],
                    ["-p", "tcp", "--dport", "53", "-j", "RETURN"],
                    # the API server's port of the gateway stays in the node namespace, where nothing listens on it
                    # (refused): the host admits it from pods, who reach the API server at its advertised address
                    # (the `kubernetes` Service's endpoint, TRANSIT_HOST) and not at the gateway
                    ["-p", "tcp", "--dport", str(PORTS["kube_apiserver"]), "-j", "RETURN"],
                    # every other port of the gateway (the kubelet's, ...) goes to the host's chain, which rejects it:
                    # kube-router's INPUT chain, ahead of the lab's, accepts a pod's traffic that no policy denies
                    ["-j", "DNAT", "--to-destination", TRANSIT_HOST],
                ],
                ("filter", NS_INPUT_CHAIN): [
                    ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
                    ["-p", "udp", "-d", DNS_ENDPOINT, "--dport", "53", "-j", "ACCEPT"],
                    ["-p", "tcp", "-d", DNS_ENDPOINT, "--dport", "53", "-j", "ACCEPT"],
                    ["-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
                ],
            },
            netns=True,
        )
        for table, parent, chain, match in (
            ("nat", "PREROUTING", NS_DNAT_CHAIN, ["-i", NODE_BRIDGE, "-d", NODE_GATEWAY]),
            ("filter", "INPUT", NS_INPUT_CHAIN, ["-i", NODE_BRIDGE]),
        ):
            if self._iptables("-t", table, "-C", parent, *match, "-j", chain, netns=True, check=False).returncode:
                self._iptables("-t", table, "-A", parent, *match, "-j", chain, netns=True)

    def _forward_standins(self) -> None:
        """Packets of pods to a loopback ClusterIP that kube-proxy did not translate (a Service without
        endpoints, whose ClusterIP a host stand-in binds) go on to the host, ahead of kube-proxy's REJECT for
        Services without endpoints. kube-proxy only checks that its own jumps exist (it does not move them),
        so this rule is put first once they do."""
        rule = [
            "-i",
            NODE_BRIDGE,
            "-o",
            NODE_VETH,
            "-d",
            SERVICE_CIDR,
            "-m",
            "comment",
            "--comment",
            NS_FORWARD_COMMENT,
            "-j",
            "ACCEPT",
        ]
        listing = self._iptables("-S", "FORWARD", netns=True).stdout.splitlines()
        mine = [i for i, line in enumerate(listing) if NS_FORWARD_COMMENT in line]
        proxy = [i for i, line in enumerate(listing) if "KUBE-SERVICES" in line or "KUBE-PROXY-FIREWALL" in line]
        if mine and (not proxy or mine[0] < proxy[0]):
            return
        while self._iptables("-D", "FORWARD", *rule, netns=True, check=False).returncode == 0:
            pass
        self._iptables("-I", "FORWARD", "1", *rule, netns=True)

    def _cni_config(self) -> None:
        # containerd 1.6 takes one plugin directory: Debian's plugins and the lab's own, linked side by side
        self.cni_bin.mkdir(parents=True, exist_ok=True)
        for src in [*sorted(CNI_BIN.iterdir()), LOOPBACK_SERVICES_PLUGIN]:
            link = self.cni_bin / src.name
            if not link.is_symlink() or link.resolve() != src.resolve():
                link.unlink(missing_ok=True)
                link.symlink_to(src)
        self.cni_conf.mkdir(parents=True, exist_ok=True)
        self.ipam_dir.mkdir(parents=True, exist_ok=True)
        conf = {
            "cniVersion": "1.0.0",
            "name": f"lab-node-{LAB_INDEX}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": NODE_BRIDGE,
                    # the lab put the gateway address on the bridge itself: isGateway would also switch on the
                    # host's IP forwarding, which pods do not need (they only talk to this host)
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": NODE_POD_CIDR, "gateway": NODE_GATEWAY}]],
                        # the subnet route and one host route back to the host's end of the veth (the source of
                        # the lab's Traefik and of every other host client that dials a pod): no default route,
                        # nothing off the machine
                        "routes": [{"dst": f"{TRANSIT_HOST}/32", "gw": NODE_GATEWAY}],
                        "dataDir": str(self.ipam_dir),
                    },
                },
                # a route for the loopback Service range through the gateway, in the pod's `local` table
                {"type": LOOPBACK_SERVICES_PLUGIN.name, "serviceCIDR": SERVICE_CIDR, "gateway": NODE_GATEWAY},
            ],
        }
        path = self.cni_conf / "10-lab.conflist"
        text = json.dumps(conf, indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)

    def _host_firewall(self) -> None:
        """The host's side of the veth: pods reach the lab's servers and nothing else on this host.

        The servers listen on 127.0.0.1 only; a DNAT chain of the lab's own (nat ``LAB-NODE-<N>-DNAT``, for
        packets that come in on the veth to ``TRANSIT_HOST``) sends the allowed ports there, which the kernel
        accepts because ``route_localnet`` is on for this veth (and no other interface). The node's own
        processes (containerd, the kubelet, kube-proxy, CoreDNS, kube-router: source ``TRANSIT_NODE``) also
        reach the registry and the API server that way. Pods reach the API server too, as in a cluster: it
        advertises ``TRANSIT_HOST`` (lab/controlplane.py), so the ``kubernetes`` Service's endpoint is
        ``TRANSIT_HOST:<its port>``, where kube-proxy in the node namespace sends the ClusterIP; the registry
        never (a pod's source is a pod address). A filter chain (``LAB-NODE-<N>``, INPUT from the veth) accepts
        exactly those and the loopback Service range (the ClusterIPs that local stand-ins bind), and rejects
        everything else.
        """
        ports = [PORTS[p] for p in POD_REACHABLE_PORTS]
        node_ports = [PORTS[p] for p in NODE_HOST_PORTS]
        api_port = PORTS["kube_apiserver"]
        self._chains(
            {
                ("nat", DNAT_CHAIN): [
                    ["-p", "tcp", "--dport", str(p), "-j", "DNAT", "--to-destination", f"{HOST}:{p}"]
                    for p in [*ports, *node_ports]
                ],
                ("filter", FIREWALL_CHAIN): [
                    ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
                    *(["-p", "tcp", "-d", HOST, "--dport", str(p), "-j", "ACCEPT"] for p in ports),
                    *(
                        ["-p", "tcp", "-s", TRANSIT_NODE, "-d", HOST, "--dport", str(p), "-j", "ACCEPT"]
                        for p in node_ports
                    ),
                    # pods reach the API server through the `kubernetes` Service: kube-proxy in the node namespace
                    # sends its ClusterIP to the advertised address, TRANSIT_HOST (no masquerade: the pod's source)
                    ["-p", "tcp", "-s", NODE_POD_CIDR, "-d", HOST, "--dport", str(api_port), "-j", "ACCEPT"],
                    # the loopback ClusterIPs that local stand-ins bind (lab-loopback-services routes them here)
                    ["-p", "tcp", "-d", SERVICE_CIDR, "-j", "ACCEPT"],
                    ["-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
                ],
            },
            netns=False,
        )
        for table, parent, chain, match in _firewall_hooks():
            if self._iptables("-t", table, "-C", parent, *match, "-j", chain, check=False).returncode != 0:
                self._iptables("-t", table, "-I", parent, *match, "-j", chain)

    def _host_firewall_remove(self) -> None:
        if not shutil.which("iptables"):
            return
        # the hooks of this design (on the veth) and of the one before it (the bridge was on the host)
        for table, parent, chain, match in [*_firewall_hooks(), *_firewall_hooks(NODE_BRIDGE)]:
            while run(["iptables", "-w", "-t", table, "-D", parent, *match, "-j", chain], check=False).returncode == 0:
                pass
        for table, chain in (("filter", FIREWALL_CHAIN), ("nat", DNAT_CHAIN)):
            if run(["iptables", "-w", "-t", table, "-n", "-L", chain], check=False).returncode == 0:
                run(["iptables", "-w", "-t", table, "-F", chain], check=False)
                run(["iptables", "-w", "-t", table, "-X", chain], check=False)
        # chains an older kubelet of this lab made (makeIPTablesUtilChains was on), unless another kubelet
        # on this machine owns them
        if not _other_kubelets(self.kubelet.pid()):
            for tool in ("iptables", "ip6tables"):
                for table, chain in (
                    ("filter", "KUBE-FIREWALL"),
                    ("filter", "KUBE-KUBELET-CANARY"),
                    ("nat", "KUBE-KUBELET-CANARY"),
                    ("mangle", "KUBE-KUBELET-CANARY"),
                    ("mangle", "KUBE-IPTABLES-HINT"),
                ):
                    if run([tool, "-w", "-t", table, "-n", "-L", chain], check=False).returncode != 0:
                        continue
                    for parent in ("INPUT", "OUTPUT"):
                        while run([tool, "-w", "-t", table, "-D", parent, "-j", chain], check=False).returncode == 0:
                            pass
                    run([tool, "-w", "-t", table, "-F", chain], check=False)
                    run([tool, "-w", "-t", table, "-X", chain], check=False)

    # ------------------------------------------------------------------ processes
    def _start_registry(self) -> None:
        cfg = self.dir / "registry.yml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "version": 0.1,
                    "log": {"level": "warn", "accesslog": {"disabled": True}},
                    "storage": {
                        "filesystem": {"rootdirectory": str(self.dir / "registry")},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": self.registry_addr},
                }
            )
        )
        if not self.registry.running():
            self.registry.start(["docker-registry", "serve", str(cfg)])

        def ok() -> bool:
            with urllib.request.urlopen(f"http://{self.registry_addr}/v2/", timeout=2) as r:
                return r.status == 200

        wait_for(ok, "the lab registry", 30, logfile=self.registry.logfile)

    def _containerd_config(self, sandbox_image: str) -> Path:
        cd = self.dir / "containerd"
        hosts = cd / "certs.d" / self.registry_addr
        hosts.mkdir(parents=True, exist_ok=True)
        # images are named by the registry's loopback address (as the host and the tests see it); containerd runs in
        # the node namespace and pulls over the veth (the host DNATs the transit address's port to the registry)
        via = f"{TRANSIT_HOST}:{PORTS['registry']}"
        (hosts / "hosts.toml").write_text(
            f'server = "http://{via}"\n\n[host."http://{via}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        text = f"""# written by lab/node.py on every up
version = 2
root = "{cd / "root"}"
state = "{cd / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.sock}"

[ttrpc]
  address = "{self.sock}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "{cd / "opt"}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # this sandbox refuses to lower oom_score_adj below 0 even to root ("failed to update
  # /proc/self/oom_score_adj: Permission denied" from runc for the pause container's -998): keep pods'
  # values at or above containerd's own
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which("runc")}"
  Root = "{cd / "state" / "runc"}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{self.cni_bin}"
  conf_dir = "{self.cni_conf}"
  max_conf_num = 1

[{cri}.registry]
  config_path = "{cd / "certs.d"}"
"""
        path = cd / "config.toml"
        path.write_text(text)
        return path

    def _start_containerd(self, sandbox_image: str) -> None:
        cfg = self._containerd_config(sandbox_image)
        if not self.containerd.running():
            # prlimit: containers inherit the runtime's limit; the host refuses more than its hard limit
            self.containerd.start(
                in_netns(["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--", "containerd", "--config", str(cfg)])
            )
        wait_for(lambda: self.ctr("version").returncode == 0, "containerd", 30, logfile=self.containerd.logfile)

    def _cgroup_root(self) -> None:
        """kubelet wants its cgroup root to exist in every v1 hierarchy; cpuset needs cpus and mems set."""
        for ctl in sorted(CGROUP_V1.iterdir()):
            if not ctl.is_dir() or ctl.name == "unified" or ctl.is_symlink():
                continue
            d = ctl / CGROUP_ROOT.lstrip("/")
            d.mkdir(exist_ok=True)
            if ctl.name.startswith("cpuset"):
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not (d / f).read_text().strip():
                        (d / f).write_text((ctl / f).read_text())

    def _kubelet_config(self) -> Path:
        cfg = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # this host runs cgroup v1 (hybrid)
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": CGROUP_ROOT,
            "cgroupsPerQOS": True,
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "imageServiceEndpoint": f"unix://{self.sock}",
            "address": NODE_GATEWAY,
            "port": PORTS["kubelet"],
            "readOnlyPort": 0,
            "healthzBindAddress": HOST,
            "healthzPort": PORTS["kubelet_healthz"],
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.dir / "pki" / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "registerWithTaints": [{"key": NODE_LABEL, "value": NODE_LABEL_VALUE, "effect": "NoSchedule"}],
            "podLogsDir": str(self.dir / "pod-logs"),
            "volumePluginDir": str(self.dir / "volume-plugins"),
            "staticPodPath": "",
            "resolvConf": "",  # pods do not get the host's resolvers: nothing off this machine
            "clusterDomain": CLUSTER_DOMAIN,
            "clusterDNS": [DNS_SERVICE_IP],
            "failSwapOn": False,
            # no KUBE-FIREWALL / canary chains in the host's iptables (shared by every lab on this machine)
            "makeIPTablesUtilChains": False,
            "maxPods": 30,
            "serializeImagePulls": False,
            "nodeStatusReportFrequency": "1m",
            "syncFrequency": "20s",
            "fileCheckFrequency": "20s",
            "imageMinimumGCAge": "2m",
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
            "kubeReserved": {},
            "enforceNodeAllocatable": ["pods"],
            "containerLogMaxSize": "5Mi",
            "containerLogMaxFiles": 2,
            "shutdownGracePeriod": "0s",
        }
        path = self.dir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    def _save_kernel_tunables(self) -> None:
        saved = self.dir / "kernel-tunables.json"
        if saved.exists() or _other_kubelets(None):
            return  # the values from before any kubelet ran are the ones to keep
        values = {k: Path("/proc/sys", k).read_text().strip() for k in KERNEL_TUNABLES if Path("/proc/sys", k).exists()}
        saved.write_text(json.dumps(values, indent=2) + "\n")

    def _restore_kernel_tunables(self) -> None:
        saved = self.dir / "kernel-tunables.json"
        if not saved.exists() or _other_kubelets(None):
            return
        for key, value in json.loads(saved.read_text()).items():
            try:
                Path("/proc/sys", key).write_text(value + "\n")
            except OSError as exc:
                log(f"node: could not restore {key.replace('/', '.')}={value}: {exc}")
        saved.unlink()

    def _start_kubelet(self) -> None:
        if self.kubelet.running():
            return
        self._save_kernel_tunables()
        cfg = self._kubelet_config()
        kc = self._kubeconfig("kubelet")
        self.kubelet_dir.mkdir(parents=True, exist_ok=True)
        self.kubelet.start(
            in_netns(
                [
                    str(K8S_BIN / "kubelet"),
                    f"--config={cfg}",
                    f"--kubeconfig={kc}",
                    f"--root-dir={self.kubelet_dir}",
                    f"--cert-dir={self.dir / 'pki' / 'serving'}",
                    f"--hostname-override={NODE_NAME}",
                    f"--node-ip={NODE_GATEWAY}",
                    f"--node-labels={NODE_LABEL}={NODE_LABEL_VALUE}",
                    "--oom-score-adj=0",  # the sandbox refuses negative values (see restrict_oom_score_adj)
                    "--v=1",
                ]
            )
        )

    # ------------------------------------------------------------------ Services, DNS, NetworkPolicy
    def _start_kube_proxy(self, kc: Path) -> None:
        """kube-proxy in iptables mode, in the node namespace: pods reach Services whose endpoints are pods of
        the node. Conntrack sysctls are left alone (the host's, shared); no localhost NodePorts."""
        if self.kube_proxy.running():
            return
        self.kube_proxy.start(
            in_netns(
                [
                    str(NODE_BINARIES["kube-proxy"]),
                    f"--kubeconfig={kc}",
                    "--proxy-mode=iptables",
                    f"--hostname-override={NODE_NAME}",
                    f"--cluster-cidr={NODE_POD_CIDR}",
                    f"--healthz-bind-address=127.0.0.1:{NETNS_PORTS['kube_proxy_healthz']}",
                    f"--metrics-bind-address=127.0.0.1:{NETNS_PORTS['kube_proxy_metrics']}",
                    "--conntrack-max-per-core=0",
                    "--conntrack-min=0",
                    "--conntrack-tcp-timeout-established=0s",
                    "--conntrack-tcp-timeout-close-wait=0s",
                    "--iptables-localhost-nodeports=false",
                    f"--nodeport-addresses={NODE_GATEWAY}/32",
                    "--v=1",
                ]
            )
        )

    def _dns_objects(self) -> list[dict]:
        """The kube-dns Service (a fixed ClusterIP, no selector) and its EndpointSlice: CoreDNS on the gateway."""
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
        ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
                "spec": {
                    "clusterIP": DNS_SERVICE_IP,
                    "ports": [{"name": n, "protocol": proto, "port": 53, "targetPort": 53} for n, proto in ports],
                },
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kube-dns-lab-node",
                    "namespace": "kube-system",
                    "labels": {
                        "kubernetes.io/service-name": "kube-dns",
                        "endpointslice.kubernetes.io/managed-by": "governed-odoo-lab",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [DNS_ENDPOINT], "conditions": {"ready": True}, "nodeName": NODE_NAME}],
                "ports": [{"name": n, "protocol": proto, "port": 53} for n, proto in ports],
            },
        ]

    def _start_coredns(self, kc: Path) -> None:
        """CoreDNS (built from its Go module with the plugins the lab needs) in the node namespace on the
        gateway address: the kube-dns Service's endpoint. It answers for the cluster domain from the lab API
        server and for nothing else (no upstream: nothing off this machine)."""
        if self.coredns.running():
            return
        self.apply(self._dns_objects())
        corefile = self.dir / "Corefile"
        corefile.write_text(
            f""".:53 {{
    bind {DNS_ENDPOINT}
    errors
    health 127.0.0.1:{NETNS_PORTS["coredns_health"]}
    ready 127.0.0.1:{NETNS_PORTS["coredns_ready"]}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kc} lab
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
"""
        )
        self.coredns.start(in_netns([str(NODE_BINARIES["coredns"]), "-conf", str(corefile)]))

    def _coredns_ready(self) -> bool:
        url = f"http://127.0.0.1:{NETNS_PORTS['coredns_ready']}/ready"
        probe = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2).read()"
        return run(in_netns([sys.executable, "-c", probe]), check=False, timeout=10).returncode == 0

    def _start_kube_router(self, kc: Path) -> None:
        """kube-router's NetworkPolicy firewall alone (no routing, no service proxy), in the node namespace:
        its KUBE-ROUTER-* chains and ipsets stay there."""
        if self.kube_router.running():
            return
        self.kube_router.start(
            in_netns(
                [
                    str(NODE_BINARIES["kube-router"]),
                    f"--kubeconfig={kc}",
                    f"--hostname-override={NODE_NAME}",
                    "--run-firewall=true",
                    "--run-router=false",
                    "--run-service-proxy=false",
                    "--enable-ipv4=true",
                    "--enable-ipv6=false",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--health-port=0",
                    "--metrics-port=0",
                    "--iptables-sync-period=1m",
                    "--v=1",
                ]
            )
        )

    def _apiserver_endpoint_ready(self) -> bool:
        """The `kubernetes` Service's EndpointSlice names the API server's advertised address (TRANSIT_HOST)."""
        res = self.kubectl(
            "get",
            "endpointslices",
            "-n",
            "default",
            "-l",
            "kubernetes.io/service-name=kubernetes",
            "-o",
            "json",
            check=False,
            timeout=10,
        )
        if res.returncode != 0:
            return False
        return any(
            TRANSIT_HOST in ep.get("addresses", [])
            and PORTS["kube_apiserver"] in [p.get("port") for p in sl.get("ports") or []]
            for sl in json.loads(res.stdout)["items"]
            for ep in sl.get("endpoints") or []
        )

    def _chain_exists(self, chain: str, table: str = "filter", parent: str = "FORWARD") -> bool:
        return f"-j {chain}" in self._iptables("-t", table, "-S", parent, netns=True, check=False).stdout

    def node_ready(self, since: float | None = None) -> bool:
        """The node reports Ready (with a heartbeat at or after ``since``, a Unix time, when given: the Node
        object outlives a `lab down`, and so does its last Ready condition)."""
        res = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False, timeout=10)
        if res.returncode != 0:
            return False
        for c in json.loads(res.stdout).get("status", {}).get("conditions", []):
            if c["type"] != "Ready" or c["status"] != "True":
                continue
            if since is None:
                return True
            beat = datetime.datetime.fromisoformat(c["lastHeartbeatTime"].replace("Z", "+00:00")).timestamp()
            return beat >= int(since)
        return False

    def _pull(self, refs: list[str]) -> None:
        """Pull the lab images into containerd now, so that a pod's start does not wait for them."""
        have = set(self.ctr("images", "ls", "-q").stdout.split())
        for ref in refs:
            if ref not in have:
                self.ctr(
                    "images", "pull", "--plain-http", "--label", "io.cri-containerd.image=managed", ref, check=True
                )

    def _delete_node_pods(self, wait: bool) -> None:
        """Force-delete every pod bound to the node: they do not outlive a `lab down`."""
        res = self.kubectl(
            "delete",
            "pods",
            "--all-namespaces",
            f"--field-selector=spec.nodeName={NODE_NAME}",
            "--force",
            "--grace-period=0",
            f"--wait={str(wait).lower()}",
            "--ignore-not-found",
            check=False,
            timeout=60,
        )
        if res.returncode != 0:
            log(f"node: could not delete the node's pods: {res.stderr.strip()[:300]}")

    # ------------------------------------------------------------------ local volumes
    def _volume(self, name: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {VOLUME_LABEL: NODE_NAME}},
            "spec": {
                "capacity": {"storage": VOLUME_CAPACITY},
                "accessModes": VOLUME_ACCESS_MODES,
                "volumeMode": "Filesystem",
                # no deleter for local volumes: the next `up` wipes a Released one and makes it Available again
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": STORAGE_CLASS,
                "local": {"path": str(self.volumes_dir / name)},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}
                                ]
                            }
                        ]
                    }
                },
            },
        }

    def _lab_volumes(self) -> list[dict]:
        res = self.kubectl("get", "pv", "-l", f"{VOLUME_LABEL}={NODE_NAME}", "-o", "json", check=False)
        return json.loads(res.stdout)["items"] if res.returncode == 0 else []

    def _delete_volumes(self, names: list[str]) -> None:
        """Delete PersistentVolume objects now, bound or not (their claims, if any, become Lost)."""
        if not names:
            return
        self.kubectl("delete", "pv", *names, "--wait=false", "--ignore-not-found", check=False)
        for name in names:  # kubernetes.io/pv-protection holds a bound volume until its claim goes
            self.kubectl("patch", "pv", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)

    def _volumes(self) -> None:
        """The StorageClass and VOLUME_POOL Available or Bound local volumes: Released or Failed ones, and those
        whose directory is gone (a `down` without the API server), are deleted, wiped and made again."""
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "labels": {VOLUME_LABEL: NODE_NAME}},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        }
        existing = {v["metadata"]["name"]: v for v in self._lab_volumes()}
        stale = [
            name
            for name, v in existing.items()
            if v.get("status", {}).get("phase") in ("Released", "Failed")
            or v["metadata"].get("deletionTimestamp")
            or not (self.volumes_dir / name).is_dir()
            # an unclaimed volume made by an older `up` with other access modes
            or (v.get("status", {}).get("phase") == "Available" and v["spec"].get("accessModes") != VOLUME_ACCESS_MODES)
        ]
        self._delete_volumes(stale)
        for name in stale:
            shutil.rmtree(self.volumes_dir / name, ignore_errors=True)
        wanted = [f"{NODE_NAME}-vol-{i}" for i in range(VOLUME_POOL)]
        missing = [n for n in wanted if n not in existing or n in stale]
        if missing:
            wait_for(
                lambda: not {v["metadata"]["name"] for v in self._lab_volumes()} & set(missing),
                "the stale local volumes to go",
                30,
                interval=0.5,
            )
        objs = [storage_class]
        for name in missing:
            (self.volumes_dir / name).mkdir(parents=True, exist_ok=True)
            objs.append(self._volume(name))
        if missing or not existing:
            self.apply(objs, force_conflicts=False)
        if missing:
            log(f"node: local volumes {', '.join(missing)} (StorageClass {STORAGE_CLASS})")

    def _volumes_down(self, api_up: bool) -> None:
        if api_up:
            self._delete_volumes([v["metadata"]["name"] for v in self._lab_volumes()])
            self.kubectl("delete", "storageclass", STORAGE_CLASS, "--ignore-not-found", "--wait=false", check=False)

    # ------------------------------------------------------------------ lifecycle
    def _ensure_binaries(self) -> None:
        """kube-proxy, CoreDNS and kube-router of a cache built before they were part of the node: built now."""
        missing = [name for name, path in NODE_BINARIES.items() if not path.exists()]
        if missing and os.geteuid() == 0 and shutil.which("go") and (K8S_BIN / "kube-apiserver").exists():
            log(f"node: building {', '.join(missing)} (a cold build takes several minutes on two cores)")
            subprocess.run(["bash", str(Path(__file__).resolve().parent / "build-binaries.sh"), "node"], check=True)

    def _outside_netns(self) -> bool:
        """A kubelet or containerd of this lab runs, but not in the node namespace (a node started before the
        namespace existed, or by the host-namespace design): it is stopped first."""
        mine = _netns_id()
        for proc in (self.kubelet, self.containerd):
            pid = proc.pid()
            if pid is not None and (theirs := _netns_id(Path(f"/proc/{pid}/ns/net"))) and theirs != mine:
                return True
        return False

    def up(self) -> dict:
        self._ensure_binaries()
        why = self.supported(joining=True)
        if why:
            log(f"node: not started: {why}")
            return {"enabled": False, "reason": why}
        from build import push

        self.dir.mkdir(parents=True, exist_ok=True)
        if self._outside_netns():
            log("node: the running node is not in its network namespace; restarting it there")
            self.down()
        self._network()
        self._cni_config()
        self._host_firewall()
        self._node_firewall()
        self._cgroup_root()
        self._node_pki()
        self._start_registry()
        images = {name: push(name, self.registry_addr) for name in IMAGES}
        self._start_containerd(images["pause"])
        if not self.kubelet.running():
            # a node that comes up has no pods from before: the API still lists the pods bound to it
            # when the lab was stopped without `down` (or by an older `down`)
            self._delete_node_pods(wait=False)
        self._pull(list(images.values()))
        self._identities()
        self._start_kube_proxy(self.kubeconfig_path("kube-proxy"))
        self._start_coredns(self.kubeconfig_path("coredns"))
        started = time.time() if not self.kubelet.running() else None
        self._start_kubelet()
        wait_for(
            lambda: self.node_ready(started), f"node {NODE_NAME} Ready", 120, interval=0.5, logfile=self.kubelet.logfile
        )
        wait_for(
            lambda: self._chain_exists("KUBE-SERVICES"),
            "kube-proxy's rules",
            60,
            interval=0.5,
            logfile=self.kube_proxy.logfile,
        )
        self._forward_standins()
        self._volumes()
        # kube-router refuses to start before the Node object exists
        self._start_kube_router(self.kubeconfig_path("kube-router"))
        wait_for(
            lambda: self._chain_exists("KUBE-ROUTER-FORWARD"),
            "kube-router's firewall",
            60,
            interval=0.5,
            logfile=self.kube_router.logfile,
        )
        wait_for(self._coredns_ready, "CoreDNS ready", 60, interval=0.5, logfile=self.coredns.logfile)
        wait_for(
            self._apiserver_endpoint_ready,
            f"the `kubernetes` Service's endpoint {TRANSIT_HOST}:{PORTS['kube_apiserver']} (the API server's advertised address)",
            60,
            interval=0.5,
            logfile=self.cp_dir / "kube-apiserver.log",
        )
        return {
            "enabled": True,
            "name": NODE_NAME,
            "label": {NODE_LABEL: NODE_LABEL_VALUE},
            "taint": f"{NODE_LABEL}={NODE_LABEL_VALUE}:NoSchedule",
            "pod_cidr": NODE_POD_CIDR,
            # pods reach the lab's servers at host_address:<the server's port>
            "host_address": NODE_GATEWAY,
            "pod_reachable_ports": {p: PORTS[p] for p in POD_REACHABLE_PORTS},
            "registry": self.registry_addr,
            "images": images,
            # local PersistentVolumes on the node (directories under .lab/node/volumes), claimed by StorageClass
            "storage_class": STORAGE_CLASS,
            "volumes": {"pool": VOLUME_POOL, "capacity": VOLUME_CAPACITY, "dir": str(self.volumes_dir)},
            "containerd_socket": str(self.sock),
            "cgroup_root": CGROUP_ROOT,
            # the node's network namespace (bridge, pods' veths, containerd, kubelet, kube-proxy, CoreDNS,
            # kube-router) and the veth pair that joins it to the host
            "netns": NODE_NETNS,
            "host_veth": HOST_VETH,
            "transit": {"host": TRANSIT_HOST, "node": TRANSIT_NODE},
            # where a NetworkPolicy sees the lab's servers: pods dial host_address, the node DNATs to this one
            "policy_host_address": TRANSIT_HOST,
            # one CIDR holding both (an inventory's egress `cidr` to the lab's servers is one CIDR, and must hold
            # the address pods dial as well as the one the policy sees)
            "server_cidr": "198.19.0.0/16",
            # where a NetworkPolicy sees connections from the host (Traefik, the controller): the host's end of
            # the veth, since the host routes the pod network through it
            "host_source_address": TRANSIT_HOST,
            "dns": {"service_ip": DNS_SERVICE_IP, "endpoint": DNS_ENDPOINT, "cluster_domain": CLUSTER_DOMAIN},
            # pods reach the API server through the `kubernetes` Service (in-cluster clients: its ClusterIP, port
            # 443); kube-proxy sends it to the API server's advertised address, where a NetworkPolicy sees it
            # (an egress allow names this address and port, not the ClusterIP's)
            "apiserver": {"address": TRANSIT_HOST, "port": PORTS["kube_apiserver"], "service_ip": APISERVER_SERVICE_IP},
            "service_proxy": "kube-proxy (iptables)",
            # who each process of the node is to the API server (its own client certificate; none is the admin)
            "identities": {
                name: {"user": user, "groups": list(groups), "kubeconfig": str(self.kubeconfig_path(name))}
                for name, (user, groups) in IDENTITIES.items()
            },
            "network_policy": f"kube-router {KUBE_ROUTER_VERSION} (firewall only)",
        }

    def down(self) -> None:
        if os.geteuid() != 0:
            super().down()
            return
        api_up = port_open(PORTS["kube_apiserver"]) and (self.cp_dir / "kubeconfig").exists()
        if self.kubelet.running() and api_up:
            # the kubelet stops the pods' containers and tears their network down (CNI DEL) itself
            self._delete_node_pods(wait=False)
            with contextlib.suppress(LabError):
                wait_for(lambda: not self._tasks(), "the node's containers to stop", 20, interval=0.5)
        self.kubelet.stop()
        for proc in (self.kube_router, self.kube_proxy, self.coredns):
            proc.stop()
        self._restore_kernel_tunables()
        if self.containerd.running():
            self._kill_tasks()
        self.containerd.stop()
        self._kill_leftovers()
        self.registry.stop()
        self._volumes_down(api_up)
        self._identities_down(api_up)
        self._sweep()
        # the volumes' directories (the kubelet's mounts of them went with the sweep)
        shutil.rmtree(self.volumes_dir, ignore_errors=True)

    def _tasks(self) -> list[str]:
        res = self.ctr("tasks", "ls", "-q")
        return [t for t in res.stdout.split() if t] if res.returncode == 0 else []

    def _kill_tasks(self) -> None:
        for tid in self._tasks():
            self.ctr("tasks", "kill", "-s", "SIGKILL", tid)
        deadline = time.monotonic() + 10
        while self._tasks() and time.monotonic() < deadline:
            time.sleep(0.2)
        for tid in self._tasks():
            self.ctr("tasks", "delete", "-f", tid)
        ids = self.ctr("containers", "ls", "-q").stdout.split()
        if ids:
            self.ctr("containers", "delete", *ids)

    def _kill_leftovers(self) -> None:
        """Shims of this node's containerd, processes in this node's cgroups (both survive their parents) and
        any process left in the node's network namespace (it would keep the namespace alive)."""
        me = os.getpid()
        node_ns = _netns_id()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == me:
                continue
            pid = int(d.name)
            try:
                cmd = (d / "cmdline").read_bytes()
                cgroups = (d / "cgroup").read_text()
            except OSError:
                continue
            in_node_netns = node_ns is not None and _netns_id(d / "ns" / "net") == node_ns
            if str(self.sock).encode() in cmd or f":{CGROUP_ROOT}/" in cgroups or in_node_netns:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)

    def _netns_of_node(self) -> list[Path]:
        """Pods' network namespaces (under /run/netns) whose eth0 is attached to this node's bridge or holds an
        address of the node's pod range."""
        found: list[Path] = []
        if not NETNS_DIR.is_dir():
            return found
        bridge_ifindexes = set()
        if NODE_NETNS_PATH.exists():
            res = run(["ip", "-n", NODE_NETNS, "-j", "link", "show", "master", NODE_BRIDGE], check=False)
            if res.returncode == 0 and res.stdout.strip():
                for link in json.loads(res.stdout):  # the node's ends of the pods' veth pairs
                    bridge_ifindexes.add(link.get("ifindex"))
        pod_net = ipaddress.ip_network(NODE_POD_CIDR)
        for ns in NETNS_DIR.glob("cni-*"):
            out = run(["ip", "-n", ns.name, "-j", "addr", "show"], check=False)
            if out.returncode != 0 or not out.stdout.strip():
                continue
            for link in json.loads(out.stdout):
                if link.get("ifname") != "eth0":
                    continue
                addrs = [a.get("local") for a in link.get("addr_info", []) if a.get("family") == "inet"]
                if link.get("link_index") in bridge_ifindexes or any(
                    ipaddress.ip_address(a) in pod_net for a in addrs if a
                ):
                    found.append(ns)
        return found

    def _sweep(self) -> None:
        """Whatever a crash or a killed kubelet left: network namespaces (the pods' and the node's, with its
        bridge, veths, iptables rules and ipsets), mounts, the host's veth, route and chains, cgroups, IPs."""
        for ns in self._netns_of_node():
            run(["ip", "netns", "delete", ns.name], check=False)
        for mp in _mounts_under(self.dir):
            res = run(["umount", mp], check=False)
            if res.returncode != 0:
                run(["umount", "-l", mp], check=False)
        if NODE_NETNS_PATH.exists():
            run(["ip", "netns", "delete", NODE_NETNS], check=False)
        # the host's end of the veth (gone with the namespace unless a process still held it), with its route;
        # the bridge of the design before the node namespace, when a lab of then is taken down
        for link in (HOST_VETH, NODE_BRIDGE):
            if run(["ip", "link", "show", link], check=False).returncode == 0:
                run(["ip", "link", "delete", link], check=False)
        shutil.rmtree(self.ipam_dir, ignore_errors=True)
        self._host_firewall_remove()
        if CGROUP_V1.is_dir():
            for ctl in CGROUP_V1.iterdir():
                root = ctl / CGROUP_ROOT.lstrip("/")
                if not root.is_dir():
                    continue
                for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        d.rmdir()
                with contextlib.suppress(OSError):
                    root.rmdir()

    def status(self) -> dict:
        why = self.supported()
        if why:
            return {"node": f"ok: not enabled ({why})"}
        st = super().status()
        if self.kubelet.running():
            st["kubelet"] += f", node {NODE_NAME} {'Ready' if self.node_ready() else 'NotReady'}"
        if self.registry.running():
            st["registry"] += f" on {self.registry_addr}"
        return st

    def reset(self) -> None:
        self.down()
        for mp in _mounts_under(self.dir):
            run(["umount", "-l", mp], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
