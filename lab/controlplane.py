"""The lab's Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler (all built from Go modules by lab/build-binaries.sh) and kwok with
three fake nodes in three zones.

Nothing runs inside the pods: kwok moves them through their lifecycle (scheduled,
Running and Ready; Jobs complete). Service ClusterIPs are loopback addresses
(127.96.0.0/16), so a local stand-in backend can bind a Service's ClusterIP and
the real Traefik, which routes to ClusterIPs in the lab, reaches it.

Failure paths are chosen per pod by annotation:

    lab.governed.odoo/fail: "crashloop"   Running but never Ready (CrashLoopBackOff)
    lab.governed.odoo/fail: "exit"        phase Failed, exit code 1 (a Job's pod fails)

If KUBECONFIG points at a reachable cluster, that cluster is used instead and no
control plane is started (connection.json says "external": true).
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import yaml
from common import CACHE_DIR, HOST, PORTS, REPO, TRANSIT_HOST, Component, LabError, Proc, log, run, wait_for, which

K8S_VERSION = os.environ.get("LAB_K8S_VERSION", "v1.36.3")
ETCD_VERSION = os.environ.get("LAB_ETCD_VERSION", "v3.6.16")
KWOK_VERSION = os.environ.get("LAB_KWOK_VERSION", "v0.8.0")
# Pod IPs: Kubernetes refuses loopback addresses in EndpointSlices, so pods get addresses from
# 198.18.0.0/15 (RFC 2544, reserved for benchmarking, never routed). Nothing ever dials them (no
# process runs in a kwok pod); `lab up` adds an `unreachable` route for the range as a guard so a
# stray packet fails at once instead of leaving the machine.
POD_CIDR = "198.18.0.0/16"
POD_GUARD_ROUTE = "198.18.0.0/15"
# Service ClusterIPs are loopback addresses: a local stand-in backend binds <ClusterIP>:<port> and
# Traefik (nativeLBByDefault) routes there, so a request through the real Traefik gets a real answer.
SERVICE_CIDR = "127.96.0.0/16"
ZONES = ("lab-a", "lab-b", "lab-c")
FAIL_ANNOTATION = "lab.governed.odoo/fail"
# the API server's identity to the kubelets (--kubelet-client-certificate), bound to the built-in ClusterRole
# system:kubelet-api-admin (the kubelet API: logs, exec, port-forward, stats), as kubeadm names it
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
# kwok manages the nodes with this annotation only, not the real node of lab/node.py
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

BIN = {
    "etcd": CACHE_DIR / "bin" / f"etcd-{ETCD_VERSION}" / "etcd",
    "kube-apiserver": CACHE_DIR / "bin" / f"kubernetes-{K8S_VERSION}" / "kube-apiserver",
    "kube-controller-manager": CACHE_DIR / "bin" / f"kubernetes-{K8S_VERSION}" / "kube-controller-manager",
    "kube-scheduler": CACHE_DIR / "bin" / f"kubernetes-{K8S_VERSION}" / "kube-scheduler",
    "kubectl": CACHE_DIR / "bin" / f"kubernetes-{K8S_VERSION}" / "kubectl",
    "kwok": CACHE_DIR / "bin" / f"kwok-{KWOK_VERSION}" / "kwok",
}


# --------------------------------------------------------------------------- PKI
def _pki(d: Path) -> None:
    """CA, API server serving cert, admin client cert, service-account key pair, static tokens."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    if (d / "ca.crt").exists() and (d / "admin.crt").exists() and (d / "sa.key").exists():
        if not (d / "kubelet-client.crt").exists():  # a lab of before: the API server's kubelet client identity
            _kubelet_client_cert(d)
        return
    d.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    later = now + datetime.timedelta(days=3650)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def pem_key(k) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def write(name: str, data: bytes, mode: int = 0o600) -> None:
        p = d / name
        p.write_bytes(data)
        os.chmod(p, mode)

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "governed-odoo-lab-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)
    write("ca.key", pem_key(ca_key))

    def leaf(name: str, cn: str, orgs: list[str], server: bool) -> None:
        k = key()
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] + [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs
        ]
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            sans = [
                x509.DNSName(n)
                for n in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local")
            ] + [x509.IPAddress(ipaddress.ip_address(HOST)),
                 x509.IPAddress(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        write(f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        write(f"{name}.key", pem_key(k))

    leaf("apiserver", "kube-apiserver", [], server=True)
    leaf("admin", "kubernetes-admin", ["system:masters"], server=False)
    _kubelet_client_cert(d)

    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write("sa.key", sa.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()))
    write("sa.pub", sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    # Static bearer token for Traefik's Kubernetes provider (it cannot use client certificates).
    token = secrets.token_hex(24)
    write("traefik.token", token.encode())
    write("tokens.csv", f'{token},lab-traefik,lab-traefik,"lab:ingress-controllers"\n'.encode())


def _kubelet_client_cert(d: Path) -> None:
    """The API server's client certificate for the kubelets' API (logs, exec, port-forward of the real node's pods):
    a user of its own (KUBELET_CLIENT_USER, no group), signed by the lab CA, which RBAC allows the built-in
    system:kubelet-api-admin and nothing else; the kubelet authorizes it by webhook (lab/node.py)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca = x509.load_pem_x509_certificate((d / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), password=None)
    now = datetime.datetime.now(datetime.UTC)
    k = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, KUBELET_CLIENT_USER)]))
        .issuer_name(ca.subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path = d / "kubelet-client.key"
    key_path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    (d / "kubelet-client.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(d / "kubelet-client.crt", 0o644)


def _kubeconfig(d: Path, server: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "governed-odoo-lab", "cluster": {"server": server, "certificate-authority": str(d / "ca.crt")}}],
        "users": [{"name": "lab-admin", "user": {"client-certificate": str(d / "admin.crt"),
                                                 "client-key": str(d / "admin.key")}}],
        "contexts": [{"name": "governed-odoo-lab", "context": {"cluster": "governed-odoo-lab", "user": "lab-admin"}}],
        "current-context": "governed-odoo-lab",
    }


# --------------------------------------------------------------------------- kwok stages
def _kwok_module_dir() -> Path:
    out = run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"], cwd=str(CACHE_DIR)).stdout
    return Path(json.loads(out)["Dir"])


def _not_failing(stage: dict) -> dict:
    stage = copy.deepcopy(stage)
    stage["spec"]["selector"].setdefault("matchExpressions", []).append(
        {"key": f'.metadata.annotations["{FAIL_ANNOTATION}"]', "operator": "DoesNotExist"}
    )
    return stage


def _failure_stages() -> list[dict]:
    base = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"}},
    }
    crash = copy.deepcopy(base)
    crash["metadata"] = {"name": "lab-pod-crashloop"}
    crash["spec"]["selector"] = {"matchExpressions": [
        {"key": f'.metadata.annotations["{FAIL_ANNOTATION}"]', "operator": "In", "values": ["crashloop"]},
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
    ]}
    crash["spec"]["next"] = {"statusTemplate": """
{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: ContainersNotReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: ContainersNotReady}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 5
  state:
    waiting: {reason: CrashLoopBackOff, message: "lab: failure requested by annotation"}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""}
    fail = copy.deepcopy(base)
    fail["metadata"] = {"name": "lab-pod-exit"}
    fail["spec"]["selector"] = {"matchExpressions": [
        {"key": f'.metadata.annotations["{FAIL_ANNOTATION}"]', "operator": "In", "values": ["exit", "true"]},
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
    ]}
    fail["spec"]["next"] = {"statusTemplate": """
{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: PodFailed}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state:
    terminated: {exitCode: 1, reason: Error, message: "lab: failure requested by annotation",
                 startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
{{ end }}
phase: Failed
startTime: {{ $now | Quote }}
"""}
    return [crash, fail]


def _kwok_config(path: Path) -> None:
    src = _kwok_module_dir() / "kustomize" / "stage"
    docs: list[dict] = [{
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            # only the fake nodes (annotated kwok.x-k8s.io/node=fake): the real node (lab/node.py) has a kubelet
            "cidr": POD_CIDR, "nodeIP": HOST, "manageAllNodes": False,
            "manageNodesWithAnnotationSelector": f"{KWOK_NODE_ANNOTATION}=fake",
            # kwok applies no defaults to options read from a file: set them all
            "podPlayStageParallelism": 8, "nodePlayStageParallelism": 4, "nodeLeaseParallelism": 4,
            "podsOnNodeSyncParallelism": 2, "nodeLeaseDurationSeconds": 40,
            "enablePodsOnNodeSyncListPager": True, "enablePodsOnNodeSyncStreamWatch": False,
            "enableDebuggingHandlers": False, "enableProfilingHandler": False, "enableContentionProfiling": False,
        },
    }]
    files = [
        "node/fast/node-initialize.yaml",
        "node/heartbeat/node-heartbeat.yaml",
        "pod/fast/pod-ready.yaml",
        "pod/fast/pod-complete.yaml",
        "pod/fast/pod-delete.yaml",
        "volume/fast/pvc-provision.yaml",
        "volume/fast/pv-bind.yaml",
        "volume/fast/pv-delete.yaml",
        "volume/fast/pvc-delete.yaml",
    ]
    for rel in files:
        for doc in yaml.safe_load_all((src / rel).read_text()):
            if not doc:
                continue
            if doc["spec"]["resourceRef"]["kind"] == "Pod" and doc["metadata"]["name"] != "pod-delete":
                doc = _not_failing(doc)
            docs.append(doc)
    docs.extend(_failure_stages())
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


# --------------------------------------------------------------------------- component
class ControlPlane(Component):
    def __init__(self) -> None:
        super().__init__(name="controlplane")
        self.procs = [Proc(self.name, n) for n in ("etcd", "kube-apiserver", "kube-controller-manager",
                                                   "kube-scheduler", "kwok")]
        self.pki = self.dir / "pki"
        self.kubeconfig = self.dir / "kubeconfig"

    # -- helpers
    @property
    def server(self) -> str:
        return f"https://{HOST}:{PORTS['kube_apiserver']}"

    def _proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _get(self, path: str, timeout: float = 3.0) -> tuple[int, str]:
        req = urllib.request.Request(self.server + path)  # noqa: S310 - https to the lab API server
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=timeout) as r:  # noqa: S310
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(BIN["kubectl"]), "--kubeconfig", str(self.kubeconfig), *args], check=check, input=stdin)

    def _external(self) -> str | None:
        kc = os.environ.get("KUBECONFIG")
        if not kc or Path(kc).resolve() == self.kubeconfig.resolve():
            return None
        kubectl = which("kubectl") or str(BIN["kubectl"])
        res = run([kubectl, "--kubeconfig", kc, "version", "-o", "json", "--request-timeout=5s"], check=False)
        if res.returncode != 0:
            raise LabError(f"KUBECONFIG={kc} is set but its cluster is not reachable: {res.stderr.strip()}")
        return kc

    def _ensure_binaries(self) -> None:
        missing = [str(p) for p in BIN.values() if not p.exists()]
        if missing:
            log("building control-plane binaries (cold build: 20-30 minutes on two cores)")
            subprocess.run(["bash", str(REPO / "lab" / "build-binaries.sh"), "all"], check=True)
        bindir = self.dir.parent / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        for name, path in BIN.items():
            link = bindir / name
            if not link.exists() or link.resolve() != path:
                link.unlink(missing_ok=True)
                link.symlink_to(path)

    # -- lifecycle
    def up(self) -> dict:
        ext = self._external()
        if ext:
            log(f"using the cluster of KUBECONFIG={ext}; no control plane started")
            ver = json.loads(run([which("kubectl") or str(BIN["kubectl"]), "--kubeconfig", ext, "version",
                                  "-o", "json"]).stdout)["serverVersion"]["gitVersion"]
            return {"external": True, "kubeconfig": ext, "version": ver,
                    "kubectl": which("kubectl") or str(BIN["kubectl"]), "env": {"KUBECONFIG": ext}}

        self._ensure_binaries()
        self._guard_route()
        _pki(self.pki)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(self.pki, self.server)))
        os.chmod(self.kubeconfig, 0o600)

        etcd = self._proc("etcd")
        if not etcd.running():
            c, p = PORTS["etcd_client"], PORTS["etcd_peer"]
            etcd.start([
                str(BIN["etcd"]), "--name=lab", f"--data-dir={self.dir / 'etcd-data'}",
                f"--listen-client-urls=http://{HOST}:{c}", f"--advertise-client-urls=http://{HOST}:{c}",
                f"--listen-peer-urls=http://{HOST}:{p}", f"--initial-advertise-peer-urls=http://{HOST}:{p}",
                f"--initial-cluster=lab=http://{HOST}:{p}", "--auto-compaction-retention=1",
                "--quota-backend-bytes=2147483648", "--log-level=warn",
            ])

        def etcd_ok() -> bool:
            with urllib.request.urlopen(f"http://{HOST}:{PORTS['etcd_client']}/health", timeout=2) as r:
                return json.loads(r.read())["health"] == "true"

        wait_for(etcd_ok, "etcd health", 60, logfile=etcd.logfile)

        api = self._proc("kube-apiserver")
        advertise = f"--advertise-address={TRANSIT_HOST}"
        if (pid := api.pid()) is not None and advertise.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            # an API server of a lab from before it advertised the node's veth: the `kubernetes` Service had no
            # endpoints; restarted with today's flags (the controllers reconnect)
            log("kube-apiserver: restarting it to advertise the real node's veth address")
            api.stop()
        kubelet_client = f"--kubelet-client-certificate={self.pki / 'kubelet-client.crt'}"
        if (pid := api.pid()) is not None and kubelet_client.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            # an API server of a lab from before it reached the kubelets as the lab's admin (system:masters)
            log("kube-apiserver: restarting it to reach the kubelets with an identity of its own")
            api.stop()
        if not api.running():
            api.start([
                str(BIN["kube-apiserver"]),
                f"--etcd-servers=http://{HOST}:{PORTS['etcd_client']}", "--etcd-prefix=/registry",
                # advertised: the host's end of the real node's veth (lab/node.py), the `kubernetes` Service's
                # endpoint (the lease reconciler writes it; an EndpointSlice refuses a loopback address). The node's
                # kube-proxy sends the ClusterIP there and the host DNATs it to the bind address. Nothing listens on
                # it while the node is down (and kwok's pods dial nothing).
                f"--bind-address={HOST}", advertise,
                f"--secure-port={PORTS['kube_apiserver']}",
                f"--tls-cert-file={self.pki / 'apiserver.crt'}", f"--tls-private-key-file={self.pki / 'apiserver.key'}",
                f"--client-ca-file={self.pki / 'ca.crt'}",
                f"--service-account-key-file={self.pki / 'sa.pub'}",
                f"--service-account-signing-key-file={self.pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--token-auth-file={self.pki / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC", "--allow-privileged=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=lease",
                "--enable-admission-plugins=NodeRestriction", "--v=1",
                # logs and exec of the real node's pods: the kubelet authenticates the API server by the lab CA and
                # authorizes it by webhook (RBAC: KUBELET_CLIENT_USER is bound to system:kubelet-api-admin only)
                kubelet_client, f"--kubelet-client-key={self.pki / 'kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP",
            ])
        wait_for(lambda: self._get("/readyz")[0] == 200, "kube-apiserver /readyz", 120, logfile=api.logfile)

        kcm = self._proc("kube-controller-manager")
        if not kcm.running():
            kcm.start([
                str(BIN["kube-controller-manager"]), f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
                f"--bind-address={HOST}", f"--secure-port={PORTS['kube_controller_manager']}",
                f"--root-ca-file={self.pki / 'ca.crt'}", f"--service-account-private-key-file={self.pki / 'sa.key'}",
                f"--cluster-signing-cert-file={self.pki / 'ca.crt'}", f"--cluster-signing-key-file={self.pki / 'ca.key'}",
                "--use-service-account-credentials=true", "--leader-elect=false",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics", "--v=1",
            ])
        sched = self._proc("kube-scheduler")
        if not sched.running():
            sched.start([
                str(BIN["kube-scheduler"]), f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
                f"--bind-address={HOST}", f"--secure-port={PORTS['kube_scheduler']}", "--leader-elect=false",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics", "--v=1",
            ])
        kwok = self._proc("kwok")
        if not kwok.running():
            cfg = self.dir / "kwok.yaml"
            _kwok_config(cfg)
            kwok.start([
                str(BIN["kwok"]), f"--kubeconfig={self.kubeconfig}", f"--config={cfg}",
                "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--server-address={HOST}:{PORTS['kwok_metrics']}",
                f"--cidr={POD_CIDR}", f"--node-ip={HOST}",
            ])
        for p in (kcm, sched, kwok):
            wait_for(lambda p=p: p.running(), f"{p.name} process", 10, logfile=p.logfile)
        self._kubelet_client_rbac()
        self._bootstrap()
        version = json.loads(self._get("/version")[1])["gitVersion"]
        return {
            "external": False,
            "kubeconfig": str(self.kubeconfig),
            "server": self.server,
            "ca_file": str(self.pki / "ca.crt"),
            "traefik_token_file": str(self.pki / "traefik.token"),
            "kubelet_client": {"user": KUBELET_CLIENT_USER, "certificate": str(self.pki / "kubelet-client.crt")},
            "kubectl": str(BIN["kubectl"]),
            "version": version,
            "pod_cidr": POD_CIDR,
            "service_cidr": SERVICE_CIDR,
            "zones": list(ZONES),
            "storage_class": "kwok-volume",
            "fail_annotation": FAIL_ANNOTATION,
            "env": {"KUBECONFIG": str(self.kubeconfig), "K8S_AUTH_KUBECONFIG": str(self.kubeconfig),
                    "PATH": str(self.dir.parent / "bin")},
        }

    @staticmethod
    def _guard_route() -> None:
        ip = shutil.which("ip")
        if not ip:
            log("no `ip` command: pod addresses are not guarded by an unreachable route")
            return
        have = run([ip, "route", "show", POD_GUARD_ROUTE], check=False).stdout
        if "unreachable" not in have:
            res = run([ip, "route", "replace", "unreachable", POD_GUARD_ROUTE], check=False)
            if res.returncode != 0:
                log(f"could not add the guard route for {POD_GUARD_ROUTE}: {res.stderr.strip()}")

    def down(self) -> None:
        super().down()
        ip = shutil.which("ip")
        if ip and "unreachable" in run([ip, "route", "show", POD_GUARD_ROUTE], check=False).stdout:
            run([ip, "route", "del", "unreachable", POD_GUARD_ROUTE], check=False)

    def _kubelet_client_rbac(self) -> None:
        """The API server's kubelet client (KUBELET_CLIENT_USER) may use the kubelet API: the built-in
        system:kubelet-api-admin, bound on every `up` (a lab of before has no binding yet)."""
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"lab:{KUBELET_CLIENT_USER}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "system:kubelet-api-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBELET_CLIENT_USER}],
        }
        self.kubectl("apply", "--server-side", "--field-manager=governed-odoo-lab", "-f", "-",
                     stdin=json.dumps(binding))

    def _bootstrap(self) -> None:
        """Nodes in three zones, the default StorageClass kwok provisions, and wait until all is Ready."""
        marker = self.dir / "bootstrapped"
        if marker.exists() and self._nodes_ready():
            return
        objs = []
        for i, zone in enumerate(ZONES):
            name = f"lab-node-{i}"
            objs.append({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                               "kubernetes.io/arch": "amd64", "type": "kwok",
                               "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "lab"},
                },
                "spec": {"podCIDR": str(list(ipaddress.ip_network(POD_CIDR).subnets(new_prefix=24))[i + 1])},
                "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                           "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}},
            })
        objs.append({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "kwok-volume",
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kwok.x-k8s.io/volume", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
        })
        self.kubectl("apply", "--server-side", "--field-manager=governed-odoo-lab", "-f", "-",
                     stdin=yaml.safe_dump_all(objs))
        wait_for(self._nodes_ready, "3 Ready nodes", 60, logfile=self._proc("kwok").logfile)
        wait_for(lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
                 "the default ServiceAccount (controller manager)", 60,
                 logfile=self._proc("kube-controller-manager").logfile)
        marker.write_text("ok\n")

    def _nodes_ready(self) -> bool:
        res = self.kubectl("get", "nodes", "-o", "json", check=False)
        if res.returncode != 0:
            return False
        ready = [
            n for n in json.loads(res.stdout)["items"]
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
        ]
        return len(ready) >= len(ZONES)

    def status(self) -> dict:
        kc = os.environ.get("KUBECONFIG")
        if kc and Path(kc).resolve() != self.kubeconfig.resolve():
            return {"cluster": f"external (KUBECONFIG={kc})"}
        ports = {"etcd": PORTS["etcd_client"], "kube-apiserver": PORTS["kube_apiserver"],
                 "kube-controller-manager": PORTS["kube_controller_manager"],
                 "kube-scheduler": PORTS["kube_scheduler"], "kwok": PORTS["kwok_metrics"]}
        return {p.name: (f"running pid {p.pid()} on {HOST}:{ports[p.name]}" if p.running() else "stopped")
                for p in self.procs}

    def reset(self) -> None:
        self.down()
        shutil.rmtree(self.dir, ignore_errors=True)
