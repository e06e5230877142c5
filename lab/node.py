"""The lab's real worker node: containerd + runc, a local OCI registry, kubelet, a CNI bridge.

Beside the kwok nodes (which run nothing), one node runs real containers:

* **registry**: Debian's docker-registry (the CNCF distribution registry) on loopback, storage
  under ``.lab/node/registry``. The lab's images (``lab/images/``, built here from Debian
  packages) are pushed there and referenced by digest.
* **containerd** with the runc runtime and the cgroupfs driver, its own config, root, state and
  socket under ``.lab/node``, open-files limit set explicitly (the host's hard limit is 20000).
* **kubelet** (built with the control plane), registered as ``lab-real-0`` with a client
  certificate signed by the lab CA, labelled ``lab.governed.odoo/node=real`` and tainted
  ``lab.governed.odoo/node=real:NoSchedule``: only pods that tolerate the taint (and select the
  label) land on it. Its cgroups live under ``/governed-odoo-lab-<N>`` so that the labs of
  several checkouts do not meet.
* **pod network**: a bridge (``labnode<N>``) that the lab creates with ``NODE_GATEWAY`` on it, the CNI
  ``bridge`` and ``host-local`` plugins handing out addresses of ``NODE_POD_CIDR``. Pods get the
  bridge's subnet route and nothing else: no default route, no masquerading, so no route off the machine.
  A pod reaches the lab's servers (PostgreSQL, Redis, S3, Traefik; all on 127.0.0.1) at
  ``NODE_GATEWAY:<same port>``, through a DNAT of the lab's own, and the loopback Service ClusterIPs
  that local stand-ins bind (lab/cni/lab-loopback-services), and nothing else on this host.

``down`` leaves nothing behind: it deletes the node's pods (the API server still runs), stops
kubelet, kills what is left of the containers, stops containerd and the registry, unmounts every
mount under ``.lab/node``, removes the network namespaces of the node's pods, the bridge, the
cgroups and the IP allocations. ``up`` after ``down`` gives a Ready node with no earlier pods.
"""

from __future__ import annotations

import contextlib
import datetime
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
NODE_NAME = "lab-real-0"
NODE_LABEL = "lab.governed.odoo/node"
NODE_LABEL_VALUE = "real"
CGROUP_ROOT = f"/governed-odoo-lab-{LAB_INDEX}"
CGROUP_V1 = Path("/sys/fs/cgroup")
NOFILE = 20000  # the host's hard limit; containerd's default for containers would exceed it
IMAGES = ("pause", "tools", "backup-runner")  # backup-runner: images/backup-runner/Containerfile
CNI_BIN = Path("/usr/lib/cni")
# the lab's chained CNI plugin: pods reach the loopback Service ClusterIPs that host stand-ins bind
LOOPBACK_SERVICES_PLUGIN = Path(__file__).resolve().parent / "cni" / "lab-loopback-services"
NETNS_DIR = Path("/run/netns")


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


def _firewall_hooks() -> list[tuple[str, str, str, list[str]]]:
    """(table, parent chain, lab chain, match) of the jumps into the lab's chains."""
    comment = ["-m", "comment", "--comment", f"governed-odoo lab {LAB_INDEX} node"]
    return [
        ("filter", "INPUT", FIREWALL_CHAIN, ["-i", NODE_BRIDGE, *comment]),
        ("nat", "PREROUTING", DNAT_CHAIN, ["-i", NODE_BRIDGE, "-d", NODE_GATEWAY, *comment]),
    ]


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
        self.procs = [self.registry, self.containerd, self.kubelet]
        self.cp_dir = LAB_DIR / "controlplane"
        self.sock = self.dir / "containerd" / "containerd.sock"
        self.kubelet_dir = self.dir / "kubelet"
        self.cni_conf = self.dir / "cni" / "net.d"
        self.cni_bin = self.dir / "cni" / "bin"
        self.ipam_dir = self.dir / "cni" / "ipam"

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
            for b in ("containerd", "runc", "docker-registry", "skopeo", "mmdebstrap", "ctr", "nsenter")
            if not shutil.which(b)
        ]
        missing += [str(CNI_BIN / p) for p in ("bridge", "host-local", "loopback") if not (CNI_BIN / p).exists()]
        if missing:
            return f"missing {', '.join(missing)}: run `bash lab/node-setup.sh` (scripts/setup.sh does)"
        if not (K8S_BIN / "kubelet").exists():
            return f"no kubelet in {K8S_BIN}: run `bash lab/build-binaries.sh k8s`"
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

    def ctr(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return run(["ctr", "--address", str(self.sock), "--namespace", "k8s.io", *args], check=check, timeout=60)

    # ------------------------------------------------------------------ PKI
    def _node_pki(self) -> None:
        """The kubelet's client certificate (system:node:<name>, group system:nodes), signed by the lab CA."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        pki = self.dir / "pki"
        crt, key_path = pki / "kubelet-client.crt", pki / "kubelet-client.key"
        ca_crt = self.cp_dir / "pki" / "ca.crt"
        if crt.exists() and key_path.exists():
            # re-issue when the lab CA changed (after a control-plane reset)
            ca = x509.load_pem_x509_certificate(ca_crt.read_bytes())
            if (
                x509.load_pem_x509_certificate(crt.read_bytes()).issuer == ca.subject
                and (pki / "ca.crt").exists()
                and (pki / "ca.crt").read_bytes() == ca_crt.read_bytes()
            ):
                return
        pki.mkdir(parents=True, exist_ok=True)
        os.chmod(pki, 0o700)
        ca = x509.load_pem_x509_certificate(ca_crt.read_bytes())
        ca_key = serialization.load_pem_private_key((self.cp_dir / "pki" / "ca.key").read_bytes(), password=None)
        k = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{NODE_NAME}"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                    ]
                )
            )
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key_path.write_bytes(
            k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        os.chmod(key_path, 0o600)
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        shutil.copyfile(ca_crt, pki / "ca.crt")

    def _kubelet_kubeconfig(self) -> Path:
        pki = self.dir / "pki"
        path = self.dir / "kubelet.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "lab",
                            "cluster": {
                                "server": f"https://{HOST}:{PORTS['kube_apiserver']}",
                                "certificate-authority": str(pki / "ca.crt"),
                            },
                        }
                    ],
                    "users": [
                        {
                            "name": NODE_NAME,
                            "user": {
                                "client-certificate": str(pki / "kubelet-client.crt"),
                                "client-key": str(pki / "kubelet-client.key"),
                            },
                        }
                    ],
                    "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": NODE_NAME}}],
                    "current-context": "lab",
                }
            )
        )
        os.chmod(path, 0o600)
        return path

    # ------------------------------------------------------------------ network
    def _bridge(self) -> None:
        """The node's bridge with the gateway address; the CNI bridge plugin attaches pods to it."""
        if run(["ip", "link", "show", NODE_BRIDGE], check=False).returncode != 0:
            run(["ip", "link", "add", NODE_BRIDGE, "type", "bridge"])
        prefix = NODE_POD_CIDR.split("/")[1]
        if f"{NODE_GATEWAY}/{prefix}" not in run(["ip", "-4", "addr", "show", "dev", NODE_BRIDGE]).stdout:
            run(["ip", "addr", "replace", f"{NODE_GATEWAY}/{prefix}", "dev", NODE_BRIDGE])
        run(["ip", "link", "set", NODE_BRIDGE, "up"])

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
                        "routes": [],  # the subnet route only: no default route, nothing off the machine
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
        """Pods reach the lab's servers at ``NODE_GATEWAY:<port>`` and nothing else on this host.

        The servers listen on 127.0.0.1 only; a DNAT chain of the lab's own (nat ``LAB-NODE-<N>-DNAT``,
        for packets that come in on the node's bridge to NODE_GATEWAY) sends the allowed ports there,
        which the kernel accepts because ``route_localnet`` is on for this bridge (and no other
        interface). A filter chain (``LAB-NODE-<N>``, INPUT from the bridge) accepts exactly those
        and the loopback Service range (lab-loopback-services routes it to the bridge), and rejects everything
        else, the kubelet's port on the same address included.
        """
        Path(f"/proc/sys/net/ipv4/conf/{NODE_BRIDGE}/route_localnet").write_text("1\n")
        ports = [PORTS[p] for p in POD_REACHABLE_PORTS]
        chains = {
            ("nat", DNAT_CHAIN): [
                ["-p", "tcp", "--dport", str(p), "-j", "DNAT", "--to-destination", f"{HOST}:{p}"] for p in ports
            ],
            ("filter", FIREWALL_CHAIN): [
                ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
                *(["-p", "tcp", "-d", HOST, "--dport", str(p), "-j", "ACCEPT"] for p in ports),
                # the loopback ClusterIPs that local stand-ins bind (lab-loopback-services routes them here)
                ["-p", "tcp", "-d", SERVICE_CIDR, "-j", "ACCEPT"],
                ["-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
            ],
        }
        for (table, chain), rules in chains.items():
            if run(["iptables", "-w", "-t", table, "-n", "-L", chain], check=False).returncode != 0:
                run(["iptables", "-w", "-t", table, "-N", chain])
            run(["iptables", "-w", "-t", table, "-F", chain])
            for r in rules:
                run(["iptables", "-w", "-t", table, "-A", chain, *r])
        for table, parent, chain, match in _firewall_hooks():
            if run(["iptables", "-w", "-t", table, "-C", parent, *match, "-j", chain], check=False).returncode != 0:
                run(["iptables", "-w", "-t", table, "-I", parent, *match, "-j", chain])

    def _host_firewall_remove(self) -> None:
        if not shutil.which("iptables"):
            return
        for table, parent, chain, match in _firewall_hooks():
            while run(["iptables", "-w", "-t", table, "-D", parent, *match, "-j", chain], check=False).returncode == 0:
                pass
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
        (hosts / "hosts.toml").write_text(
            f'server = "http://{self.registry_addr}"\n\n[host."http://{self.registry_addr}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
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
            self.containerd.start(["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--", "containerd", "--config", str(cfg)])
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
            "clusterDomain": "cluster.local",
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
        kc = self._kubelet_kubeconfig()
        self.kubelet_dir.mkdir(parents=True, exist_ok=True)
        self.kubelet.start(
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

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> dict:
        why = self.supported(joining=True)
        if why:
            log(f"node: not started: {why}")
            return {"enabled": False, "reason": why}
        from build import push

        self.dir.mkdir(parents=True, exist_ok=True)
        self._bridge()
        self._cni_config()
        self._host_firewall()
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
        started = time.time() if not self.kubelet.running() else None
        self._start_kubelet()
        wait_for(
            lambda: self.node_ready(started), f"node {NODE_NAME} Ready", 120, interval=0.5, logfile=self.kubelet.logfile
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
            "containerd_socket": str(self.sock),
            "cgroup_root": CGROUP_ROOT,
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
        self._restore_kernel_tunables()
        if self.containerd.running():
            self._kill_tasks()
        self.containerd.stop()
        self._kill_leftovers()
        self.registry.stop()
        self._sweep()

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
        """Shims of this node's containerd and processes in this node's cgroups (both survive their parents)."""
        me = os.getpid()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == me:
                continue
            pid = int(d.name)
            try:
                cmd = (d / "cmdline").read_bytes()
                cgroups = (d / "cgroup").read_text()
            except OSError:
                continue
            if str(self.sock).encode() in cmd or f":{CGROUP_ROOT}/" in cgroups:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)

    def _netns_of_node(self) -> list[Path]:
        """Network namespaces (under /run/netns) whose pod side is attached to this node's bridge."""
        found = []
        if not NETNS_DIR.is_dir():
            return found
        bridge_ifindexes = set()
        res = run(["ip", "-j", "link", "show", "master", NODE_BRIDGE], check=False)
        if res.returncode == 0 and res.stdout.strip():
            for link in json.loads(res.stdout):  # the host ends of the pods' veth pairs
                bridge_ifindexes.add(link.get("ifindex"))
        for ns in NETNS_DIR.glob("cni-*"):
            out = run(["ip", "-n", ns.name, "-j", "link", "show"], check=False)
            if out.returncode != 0 or not out.stdout.strip():
                continue
            for link in json.loads(out.stdout):
                if link.get("ifname") == "eth0" and link.get("link_index") in bridge_ifindexes:
                    found.append(ns)
        return found

    def _sweep(self) -> None:
        """Whatever a crash or a killed kubelet left: network namespaces, mounts, the bridge, cgroups, IPs."""
        for ns in self._netns_of_node():
            run(["ip", "netns", "delete", ns.name], check=False)
        for mp in _mounts_under(self.dir):
            res = run(["umount", mp], check=False)
            if res.returncode != 0:
                run(["umount", "-l", mp], check=False)
        if run(["ip", "link", "show", NODE_BRIDGE], check=False).returncode == 0:
            run(["ip", "link", "delete", NODE_BRIDGE], check=False)
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
