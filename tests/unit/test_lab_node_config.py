"""Pure logic of the lab's real node (lab/node.py) and its image builder (lab/images/build.py).

The node itself is tested against the real kubelet, containerd and registry in
tests/integration/test_lab_node.py; these check what is decided before anything runs: the
image layout is byte-for-byte reproducible, the pod network has no route off the machine, the
kubelet configuration keeps to this host's constraints.
"""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
import types
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[2] / "lab"


@pytest.fixture
def lab_modules(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(LAB / "images"))
    monkeypatch.syspath_prepend(str(LAB))
    for name in ("common", "controlplane", "node", "build"):
        sys.modules.pop(name, None)
    # imported by name: ruff's import sorting would classify `build` by whether the checkout has a build/ directory
    build = importlib.import_module("build")
    common = importlib.import_module("common")
    node = importlib.import_module("node")

    monkeypatch.setattr(common, "LAB_DIR", tmp_path / "lab")
    monkeypatch.setattr(node, "LAB_DIR", tmp_path / "lab")
    yield types.SimpleNamespace(common=common, node=node, build=build)
    for name in ("common", "controlplane", "node", "build"):
        sys.modules.pop(name, None)


def _tar(entries: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data, mtime in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uname = len(data), mtime, "someone"
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_normalised_tar_is_the_same_whatever_the_order_and_times(lab_modules, tmp_path):
    build = lab_modules.build
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    a.write_bytes(_tar([("./etc/x", b"x", 2_000_000_000), ("./bin/y", b"y", 5)]))
    b.write_bytes(_tar([("./bin/y", b"y", 5), ("./etc/x", b"x", 1_900_000_000)]))
    na, nb = build._normalise_tar(a), build._normalise_tar(b)
    assert na == nb
    with tarfile.open(fileobj=io.BytesIO(na)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["bin/y", "etc/x"]
    assert all(m.mtime <= build.SOURCE_DATE_EPOCH and m.uname == "" for m in members)


def _tar_gz(entries: list[tuple[str, bytes, int, int]], gzip_mtime: int) -> bytes:
    import gzip

    out = io.BytesIO()
    with (
        gzip.GzipFile(filename="x.tar", mode="wb", fileobj=out, mtime=gzip_mtime) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, data, mtime, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_collection_tarball_is_normalised_in_place_whatever_its_build_time(lab_modules, tmp_path):
    """`ansible-galaxy collection build` stamps members and gzip header with the time of the build."""
    build = lab_modules.build
    files = [("MANIFEST.json", b"{}", 0o644), ("plugins/modules/x.py", b"#!x", 0o755), (".hidden", b"h", 0o644)]
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    a.write_bytes(_tar_gz([(n, d, 1_800_000_000, m) for n, d, m in files], gzip_mtime=1_800_000_000))
    b.write_bytes(_tar_gz([(n, d, 1_800_000_007, m) for n, d, m in reversed(files)], gzip_mtime=1_800_000_009))
    assert a.read_bytes() != b.read_bytes()
    build.normalise_tarball(a)
    build.normalise_tarball(b)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes()[4:8] == b"\0\0\0\0"  # no time in the gzip header
    with tarfile.open(a) as tar:
        members = {m.name: (m.mode, m.mtime, tar.extractfile(m).read()) for m in tar.getmembers()}
    # contents, modes and names (a dot file's too) kept; times clamped
    assert members == {n: (m, build.SOURCE_DATE_EPOCH, d) for n, d, m in files}


def test_containerfile_recipe_key_follows_its_context(lab_modules, tmp_path, monkeypatch):
    """A change to the Containerfile (or anything in its context) is another image: a warm lab up rebuilds it."""
    build = lab_modules.build
    import shutil

    here = tmp_path / "recipes"
    shutil.copytree(LAB / "images", here, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(LAB.parent / "images" / "backup-runner", tmp_path / "context")
    recipe = here / "backup-runner.yaml"
    recipe.write_text(recipe.read_text().replace("../../images/backup-runner", str(tmp_path / "context")))
    monkeypatch.setattr(build, "HERE", here)
    key = build.recipe_key(recipe)
    assert build.recipe_key(recipe) == key
    (tmp_path / "context" / "governed-odoo-0.1.0.tar.gz").write_bytes(b"a tarball built into the context")
    assert build.recipe_key(recipe) == key  # the tarball is built from the collection paths, which the key hashes
    containerfile = tmp_path / "context" / "Containerfile"
    containerfile.write_text(containerfile.read_text() + "\n# another recipe\n")
    assert build.recipe_key(recipe) != key


def test_image_layout_is_reproducible_and_refers_to_its_blobs(lab_modules, tmp_path):
    build = lab_modules.build
    recipe = {"name": "demo", "entrypoint": ["/pause", "-P"]}
    layer = _tar([("pause", b"\x7fELF", build.SOURCE_DATE_EPOCH)])
    build._write_layout(recipe, "k1", layer, tmp_path / "one")
    build._write_layout(recipe, "k1", layer, tmp_path / "two")
    assert build.manifest_digest(tmp_path / "one") == build.manifest_digest(tmp_path / "two")
    blobs = tmp_path / "one" / "blobs" / "sha256"
    manifest = json.loads((blobs / build.manifest_digest(tmp_path / "one").split(":")[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert config["config"]["Entrypoint"] == ["/pause", "-P"]
    assert config["rootfs"]["diff_ids"] == [build._sha(layer)]
    for desc in [manifest["config"], *manifest["layers"]]:
        assert (blobs / desc["digest"].split(":")[1]).stat().st_size == desc["size"]
    # another recipe key is another image
    build._write_layout(recipe, "k2", layer, tmp_path / "three")
    assert build.manifest_digest(tmp_path / "three") != build.manifest_digest(tmp_path / "one")


def test_a_variant_is_its_base_layer_with_settings_of_its_own(lab_modules, tmp_path, monkeypatch):
    build = lab_modules.build
    layer = _tar([("usr/local/bin/odoo", b"#!/usr/bin/python3\n", build.SOURCE_DATE_EPOCH)])
    build._write_layout({"name": "base", "entrypoint": ["/usr/local/bin/odoo"]}, "k0", layer, tmp_path / "base")
    monkeypatch.setattr(build, "build", lambda name: tmp_path / "base")
    monkeypatch.setattr(build, "recipes", lambda: {"base": tmp_path / "base.yaml"})
    (tmp_path / "base.yaml").write_text("name: base\nkind: mmdebstrap\nentrypoint: [/usr/local/bin/odoo]\n")
    variant = {"name": "base-b", "kind": "variant", "from": "base", "env": ["ODOO_STANDIN_RELEASE=B"]}
    build._write_layout(variant, "k1", None, tmp_path / "b")
    blobs = tmp_path / "b" / "blobs" / "sha256"
    manifest = json.loads((blobs / build.manifest_digest(tmp_path / "b").split(":")[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert config["rootfs"]["diff_ids"] == [build._sha(layer)]
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/odoo"]
    assert "ODOO_STANDIN_RELEASE=B" in config["config"]["Env"]
    assert build.manifest_digest(tmp_path / "b") != build.manifest_digest(tmp_path / "base")
    base_manifest = json.loads((tmp_path / "base" / "blobs" / "sha256" /
                                build.manifest_digest(tmp_path / "base").split(":")[1]).read_bytes())
    assert manifest["layers"] == base_manifest["layers"]  # the same layer blob: nothing rebuilt


def test_every_recipe_has_a_known_kind_and_a_stable_key(lab_modules):
    build = lab_modules.build
    import yaml

    recipes = build.recipes()
    assert {"pause", "tools"} <= set(recipes)
    for name, path in recipes.items():
        recipe = yaml.safe_load(path.read_text())
        assert recipe["name"] == name
        assert recipe["kind"] in ("deb-files", "mmdebstrap", "variant", "containerfile")
        assert build.recipe_key(path) == build.recipe_key(path)
        if recipe["kind"] == "containerfile":
            assert (path.parent / recipe["context"] / "Containerfile").is_file(), f"{name}: no Containerfile"
        if recipe["kind"] in ("variant", "containerfile"):
            assert recipe["from"] in recipes, f"{name}: its base image has no recipe"
        if recipe.get("lab_binaries"):
            from controlplane import BIN

            assert recipe["kind"] == "mmdebstrap", f"{name}: lab_binaries are copied in by mmdebstrap's hooks"
            assert set(recipe["lab_binaries"].values()) <= set(BIN), f"{name}: not a binary the lab builds"
    scaler = yaml.safe_load(recipes["offhours-scaler"].read_text())
    assert scaler["lab_binaries"] == {"/usr/local/bin/kubectl": "kubectl"}, "the off-hours scaler is the lab's kubectl"
    pause = yaml.safe_load(recipes["pause"].read_text())
    assert all("=" in pkg for pkg in pause["packages"]), "the pause image's packages are pinned"


def test_pod_network_has_no_default_route_no_masquerade_no_forwarding(lab_modules):
    common, node = lab_modules.common, lab_modules.node
    n = node.Node()
    n._cni_config()
    conf = json.loads((n.cni_conf / "10-lab.conflist").read_text())
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == common.NODE_BRIDGE
    assert bridge["ipMasq"] is False
    assert bridge["isGateway"] is False, "as gateway the bridge plugin switches the host's forwarding on"
    # one host route, back to the host's end of the veth (Traefik's source); no default route, nothing wider
    assert bridge["ipam"]["routes"] == [{"dst": f"{node.TRANSIT_HOST}/32", "gw": common.NODE_GATEWAY}]
    assert bridge["ipam"]["ranges"] == [[{"subnet": common.NODE_POD_CIDR, "gateway": common.NODE_GATEWAY}]]
    assert [p["type"] for p in conf["plugins"]] == ["bridge", "lab-loopback-services"]
    services = conf["plugins"][1]
    assert services["serviceCIDR"].startswith("127.") and services["gateway"] == common.NODE_GATEWAY
    assert (n.cni_bin / "lab-loopback-services").resolve() == node.LOOPBACK_SERVICES_PLUGIN
    assert (n.cni_bin / "bridge").exists()


def test_kubelet_configuration_fits_this_host(lab_modules):
    common, node = lab_modules.common, lab_modules.node
    import yaml

    n = node.Node()
    n.dir.mkdir(parents=True)
    cfg = yaml.safe_load(n._kubelet_config().read_text())
    assert cfg["failCgroupV1"] is False
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["cgroupRoot"] == node.CGROUP_ROOT
    assert cfg["makeIPTablesUtilChains"] is False
    assert cfg["readOnlyPort"] == 0
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authorization"]["mode"] == "Webhook"
    assert cfg["registerWithTaints"] == [{"key": node.NODE_LABEL, "value": "real", "effect": "NoSchedule"}]
    assert cfg["address"] == common.NODE_GATEWAY and cfg["port"] == common.PORTS["kubelet"]
    assert cfg["containerRuntimeEndpoint"] == f"unix://{n.sock}"
    assert cfg["clusterDNS"] == [node.DNS_SERVICE_IP] and cfg["clusterDomain"] == "cluster.local"
    assert cfg["resolvConf"] == "", "pods get the lab's DNS only, never the host's resolvers"
    assert str(n.dir) in cfg["podLogsDir"]


def test_pods_reach_only_lab_servers_and_never_the_control_plane(lab_modules):
    common, node = lab_modules.common, lab_modules.node
    reachable = set(node.POD_REACHABLE_PORTS)
    assert reachable <= set(common.PORTS)
    assert not reachable & {"kube_apiserver", "etcd_client", "etcd_peer", "kubelet", "kubelet_healthz", "registry"}
    assert not set(node.NODE_HOST_PORTS) & reachable, "the node's own host ports are not the pods'"
    hooks = node._firewall_hooks()
    assert {(hook[0], hook[1]) for hook in hooks} == {("filter", "INPUT"), ("nat", "PREROUTING")}
    # the host's chains hook the veth of the node's namespace (the bridge is inside it)
    assert all(hook[3][:2] == ["-i", node.HOST_VETH] for hook in hooks)


def test_node_network_namespace_layout_is_the_labs_own(lab_modules):
    """The node's namespace, veth and transit /30 are per lab (index from the port offset), outside the pod range
    and inside the never-routed 198.19.0.0/16; cluster DNS is a ClusterIP of the lab's Service range."""
    import ipaddress

    common, node = lab_modules.common, lab_modules.node
    from controlplane import SERVICE_CIDR

    transit = ipaddress.ip_network(f"{node.TRANSIT_HOST}/{node.TRANSIT_PREFIX}", strict=False)
    assert ipaddress.ip_address(node.TRANSIT_NODE) in transit
    assert not transit.overlaps(ipaddress.ip_network(common.NODE_POD_CIDR))
    assert transit.subnet_of(ipaddress.ip_network("198.19.0.0/16"))
    assert str(common.LAB_INDEX) in node.NODE_NETNS and str(common.LAB_INDEX) in node.HOST_VETH
    assert len(node.HOST_VETH) <= 15, "an interface name has at most 15 characters"
    assert ipaddress.ip_address(node.DNS_SERVICE_IP) in ipaddress.ip_network(SERVICE_CIDR)
    assert node.DNS_ENDPOINT == common.NODE_GATEWAY
    argv = node.in_netns(["kube-proxy"])
    assert argv[:2] == ["nsenter", f"--net={node.NODE_NETNS_PATH}"] and argv[-1] == "kube-proxy"
    service, endpoints = node.Node()._dns_objects()
    assert service["spec"]["clusterIP"] == node.DNS_SERVICE_IP and "selector" not in service["spec"]
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert endpoints["endpoints"][0]["addresses"] == [node.DNS_ENDPOINT]


def test_node_processes_reach_the_api_server_over_the_veth_by_its_certificate_name(lab_modules):
    node = lab_modules.node
    cluster = node.Node._api_cluster(node.LAB_DIR / "ca.crt")
    assert cluster["server"].startswith(f"https://{node.TRANSIT_HOST}:")
    assert cluster["tls-server-name"] == "localhost", "the API server's certificate names localhost, not the veth"


def test_the_cache_lock_is_reentrant_in_a_process_and_exclusive_across_processes(lab_modules, tmp_path, monkeypatch):
    """A build that needs another image inside its locked section takes the lock again without waiting for itself
    (it did: a recipe edited during a run changed a base's key, and the run hung on its own flock)."""
    build = lab_modules.build
    monkeypatch.setattr(build, "IMAGES_CACHE", tmp_path)
    probe = (
        "import fcntl, sys; f = open(sys.argv[1], 'w')\n"
        "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError:\n    print('held')\n"
    )

    def other_process_sees() -> str:
        argv = [sys.executable, "-c", probe, str(tmp_path / ".lock")]
        return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()

    seen = []

    def nested():
        with build._cache_lock():
            with build._cache_lock():  # nested: returns at once
                seen.append(other_process_sees())
            seen.append(other_process_sees())  # the outer section still holds it
        seen.append(other_process_sees())

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the nested lock waited for itself"
    assert seen == ["held", "held", "free"]


def test_pods_reach_the_api_server_at_its_advertised_address_only(lab_modules, monkeypatch):
    """The host admits the API server's port from the pod range (the `kubernetes` Service's endpoint is the host's
    end of the veth, which the API server advertises), the registry's only from the node's own processes; in the node
    namespace the gateway's API server port stays there (nothing listens on it) instead of going on to the host."""
    common, node = lab_modules.common, lab_modules.node
    chains: dict = {}
    monkeypatch.setattr(
        node.Node, "_chains", lambda self, c, netns: chains.update({(netns, *k): v for k, v in c.items()})
    )
    monkeypatch.setattr(node.Node, "_iptables", lambda self, *a, **kw: types.SimpleNamespace(returncode=0, stdout=""))
    n = node.Node()
    n._host_firewall()
    n._node_firewall()
    api, registry = str(common.PORTS["kube_apiserver"]), str(common.PORTS["registry"])
    host_filter = chains[(False, "filter", node.FIREWALL_CHAIN)]

    def accepted_from(port):
        return {r[r.index("-s") + 1] if "-s" in r else "any" for r in host_filter if port in r and r[-1] == "ACCEPT"}

    assert accepted_from(api) == {common.TRANSIT_NODE, common.NODE_POD_CIDR}
    assert accepted_from(registry) == {common.TRANSIT_NODE}
    assert host_filter[-1][-3:] == ["REJECT", "--reject-with", "icmp-port-unreachable"]
    ns_dnat = chains[(True, "nat", node.NS_DNAT_CHAIN)]
    (kept,) = [i for i, r in enumerate(ns_dnat) if api in r]
    assert ns_dnat[kept][-2:] == ["-j", "RETURN"]
    assert kept < len(ns_dnat) - 1 and ns_dnat[-1] == ["-j", "DNAT", "--to-destination", common.TRANSIT_HOST]
    assert node.APISERVER_SERVICE_IP == "127.96.0.1"


# --------------------------------------------------------------------------- identities of the node's processes
def test_each_node_process_has_an_identity_of_its_own_and_none_is_an_admin(lab_modules):
    node = lab_modules.node
    ids = node.IDENTITIES
    assert set(ids) == {"kubelet", "kube-proxy", "coredns", "kube-router"}
    assert len({ident[0] for ident in ids.values()}) == len(ids), "two processes share a user"
    assert ids["kubelet"] == (f"system:node:{node.NODE_NAME}", ("system:nodes",)), "the Node authorizer's form"
    assert ids["kube-proxy"] == ("system:kube-proxy", ()), "the user of the built-in binding system:node-proxier"
    for user, groups in ids.values():
        assert "system:masters" not in groups and user != "kubernetes-admin"
    # a user of the lab's own has the ClusterRole the lab makes; kube-proxy's and the kubelet's are built in
    assert set(node.IDENTITY_RULES) == {"coredns", "kube-router"}


def test_the_labs_cluster_roles_are_read_only_and_bound_to_their_user_only(lab_modules):
    node = lab_modules.node
    objs = node.identity_rbac()
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRole"}
    bindings = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRoleBinding"}
    assert set(roles) == set(bindings) == {node.IDENTITIES[n][0] for n in node.IDENTITY_RULES}
    for name, role in roles.items():
        assert role["metadata"]["labels"] == {node.IDENTITY_LABEL: node.NODE_NAME}, "down deletes them by label"
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, (name, rule)
            assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], (name, rule)
            assert not {"secrets", "configmaps"} & set(rule["resources"]), (name, rule)
        binding = bindings[name]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}]

    def granted(user: str, group: str, resource: str) -> set[str]:
        return {
            v
            for r in roles[user]["rules"]
            if group in r["apiGroups"] and resource in r["resources"]
            for v in r["verbs"]
        }

    for resource in ("services", "namespaces"):
        assert {"list", "watch"} <= granted("lab:coredns", "", resource)
    assert {"list", "watch"} <= granted("lab:coredns", "discovery.k8s.io", "endpointslices")
    assert not granted("lab:coredns", "", "pods"), "CoreDNS runs with `pods insecure`: it watches no pods"
    assert not granted("lab:coredns", "", "endpoints"), "CoreDNS v1.15 reads EndpointSlices only"
    for resource in ("pods", "namespaces", "nodes", "services", "endpoints"):
        assert {"list", "watch"} <= granted("lab:kube-router", "", resource)
    assert "get" in granted("lab:kube-router", "", "nodes"), "its firewall reads its own Node"
    assert {"list", "watch"} <= granted("lab:kube-router", "networking.k8s.io", "networkpolicies")


@pytest.fixture
def lab_ca(lab_modules):
    """The lab CA (and admin leaf) as lab/controlplane.py makes them, under the test's LAB_DIR."""
    import controlplane

    pki = lab_modules.node.LAB_DIR / "controlplane" / "pki"
    controlplane._pki(pki)
    return pki


def _verify_signed_by(cert_path: Path, ca_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == ca.subject


def test_node_pki_issues_one_client_certificate_per_identity_and_again_only_when_needed(lab_modules, lab_ca):
    node = lab_modules.node
    n = node.Node()
    n._node_pki()
    pki = n.dir / "pki"
    for name, identity in node.IDENTITIES.items():
        crt = pki / f"{name}-client.crt"
        assert node.cert_identity(crt) == identity
        _verify_signed_by(crt, lab_ca / "ca.crt")
        assert (pki / f"{name}-client.key").stat().st_mode & 0o077 == 0, "a private key readable by others"
    before = {p.name: p.read_bytes() for p in pki.glob("*-client.*")}
    n._node_pki()
    assert {p.name: p.read_bytes() for p in pki.glob("*-client.*")} == before, "a warm up issues nothing"

    # a certificate of another identity (kube-router's of a lab of before: the admin's) is issued again, alone
    (pki / "kube-router-client.crt").write_bytes((lab_ca / "admin.crt").read_bytes())
    n._node_pki()
    assert node.cert_identity(pki / "kube-router-client.crt") == node.IDENTITIES["kube-router"]
    assert (pki / "coredns-client.crt").read_bytes() == before["coredns-client.crt"]

    # another CA (a control-plane reset): every certificate is issued again, by the new one
    import shutil

    shutil.rmtree(lab_ca)
    import controlplane

    controlplane._pki(lab_ca)
    n._node_pki()
    for name in node.IDENTITIES:
        assert (pki / f"{name}-client.crt").read_bytes() != before[f"{name}-client.crt"]
        _verify_signed_by(pki / f"{name}-client.crt", lab_ca / "ca.crt")


def test_each_kubeconfig_names_its_own_user_and_certificate_never_the_admins(lab_modules, lab_ca):
    import yaml

    node = lab_modules.node
    n = node.Node()
    n._node_pki()
    for name, (user, _groups) in node.IDENTITIES.items():
        cfg = yaml.safe_load(n._kubeconfig(name).read_text())
        assert n.kubeconfig_path(name).stat().st_mode & 0o077 == 0
        (entry,) = cfg["users"]
        assert entry["name"] == user and cfg["contexts"][0]["context"]["user"] == user
        assert entry["user"]["client-certificate"] == str(n.dir / "pki" / f"{name}-client.crt")
        assert "admin" not in entry["user"]["client-certificate"] + entry["user"]["client-key"]
        assert node.cert_identity(Path(entry["user"]["client-certificate"])) == node.IDENTITIES[name]
        assert cfg["clusters"][0]["cluster"] == n._api_cluster(n.dir / "pki" / "ca.crt")
        assert cfg["current-context"] == "lab", "CoreDNS's Corefile names the context lab"


def test_a_process_running_with_another_kubeconfig_is_not_taken_for_its_own_identity(lab_modules):
    """A kube-proxy or kube-router that a lab of before started with the admin's kubeconfig is restarted by `up`."""
    node = lab_modules.node
    n = node.Node()
    n.dir.mkdir(parents=True)
    procs = []
    try:
        for kubeconfig in (n.kubeconfig_path("kube-proxy"), n.dir / "node-services.kubeconfig"):
            argv = [sys.executable, "-c", "import time; time.sleep(120)", f"--kubeconfig={kubeconfig}"]
            procs.append(subprocess.Popen(argv))
        n.kube_proxy.pidfile.write_text(str(procs[0].pid))
        n.kube_router.pidfile.write_text(str(procs[1].pid))
        deadline = time.monotonic() + 30
        while b"--kubeconfig" not in Path(f"/proc/{procs[1].pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert n._runs_as_own_identity(n.kube_proxy, "kube-proxy")
        assert not n._runs_as_own_identity(n.kube_router, "kube-router")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    (n.dir / "Corefile").write_text(f"    kubeconfig {n.dir / 'node-services.kubeconfig'} lab\n")
    assert not n._runs_as_own_identity(n.coredns, "coredns")
    (n.dir / "Corefile").write_text(f"    kubeconfig {n.kubeconfig_path('coredns')} lab\n")
    assert n._runs_as_own_identity(n.coredns, "coredns")
