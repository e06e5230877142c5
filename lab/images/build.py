"""Build the lab's container images from Debian packages, reproducibly, and push them to the lab registry.

Each image has a recipe beside this file (``<name>.yaml``). Two kinds:

``deb-files``
    files taken out of pinned Debian packages (``apt-get download`` + ``dpkg-deb -x``) into a
    single layer; for the pause image (catatonit, a static binary).
``mmdebstrap``
    a Debian root filesystem made by mmdebstrap from the Debian archive (no base image from
    anywhere) with the listed packages, and the files of ``add_files`` (``{path in the image: file
    beside the recipe}``) copied in.
``variant``
    the layer of image ``from`` with settings of its own (``env``, ``entrypoint``, ``cmd``): another
    image, another digest, nothing rebuilt (the lab's Odoo stand-in releases).
``containerfile``
    a Containerfile of the product (``context``, relative to the recipe) built by buildah (chroot
    isolation, its own storage under the cache) on image ``from`` (the build argument ``BASE_IMAGE``),
    with the collection's tarball built into the context first (from a copy of ``collection_paths``,
    normalised) and ``SOURCE_DATE_EPOCH`` as build argument and ``--timestamp``; the backup runner image.

An ``mmdebstrap`` recipe may add ``lab_binaries`` (``{path in the image: name}``): binaries the lab built from Go
modules (``lab/build-binaries.sh``, the control plane's ``BIN`` in ``lab/controlplane.py``: ``kubectl``, ...), copied
in with mode 0755; the key hashes their bytes (the off-hours scaler image holds the lab's kubectl).

An ``mmdebstrap`` recipe may add ``essential_hooks`` (shell commands run after Debian's essential packages are
in and before ``include``'s, ``"$1"`` the root: users with the uids the product's pod templates run as, settings the
packages' maintainer scripts read) and ``customize_hooks`` (run last: directories, symlinks). An ``env`` entry
``PATH=…`` replaces the default ``PATH``.

An ``mmdebstrap`` recipe may add ``pyenv_python: "3.12"``: the newest CPython of that series that pyenv
built on this machine (``~/.pyenv/versions/3.12.*``) is copied into ``/usr/local`` (the lab's stand-in
for the official python image, whose CPython lives there too).

The result is an OCI image layout (one gzip layer, written with fixed timestamps, owners and
order, so the same inputs give the same digest; buildah's layers for a ``containerfile``, as
reproducible) cached in ``~/.cache/governed-odoo-lab/images/``
under ``<name>-<key>``, where the key hashes the recipe and this builder. A warm run finds it and
builds nothing. ``push`` copies it into the lab registry with skopeo and returns the reference by
digest (``127.0.0.1:PORT/lab/<name>@sha256:…``), which is how pods refer to it.

    python lab/images/build.py [NAME ...]     build (or find) the images, print their cache dirs
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import CACHE_DIR, LabError, log, run

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILDAH_DIR = CACHE_DIR / "buildah"
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
IMAGES_CACHE = CACHE_DIR / "images"
# every file in every layer gets this time; the images say they were created then
SOURCE_DATE_EPOCH = 1700000000
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(HERE.glob("*.yaml"))}


def recipe_key(path: Path) -> str:
    h = hashlib.sha256()
    h.update(path.read_bytes())
    h.update(Path(__file__).read_bytes())
    recipe = yaml.safe_load(path.read_text())
    for src in sorted((recipe.get("add_files") or {}).values()):
        h.update((HERE / src).read_bytes())
    if recipe.get("kind") in ("variant", "containerfile"):
        h.update(recipe_key(recipes()[recipe["from"]]).encode())
    for dest, name in sorted((recipe.get("lab_binaries") or {}).items()):
        try:
            h.update(f"{dest} {name} ".encode() + hashlib.sha256(_lab_binary(name).read_bytes()).digest())
        except (LabError, OSError):
            h.update(f"{dest} {name} missing".encode())  # build() says what is missing
    if recipe.get("pyenv_python"):
        try:
            python = _pyenv_python(recipe["pyenv_python"])
            st = (python / "lib" / f"libpython{recipe['pyenv_python']}.so.1.0").stat()
            h.update(f"{python.name} {st.st_size} {st.st_mtime_ns}".encode())
        except (LabError, OSError):
            h.update(b"no pyenv python")  # build() says what is missing
    if recipe.get("kind") == "containerfile":
        for f in _tree_files(HERE / recipe["context"], skip_suffix=".tar.gz"):
            h.update(f.name.encode() + f.read_bytes())
        for f in _tree_files(*(REPO / p for p in recipe.get("collection_paths", []))):
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _tree_files(*roots: Path, skip_suffix: str = "") -> list[Path]:
    """Every regular file under ``roots`` (or the root itself), sorted; caches and build leftovers left out."""
    out = []
    for root in roots:
        for f in [root] if root.is_file() else root.rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts and not (skip_suffix and f.name.endswith(skip_suffix)):
                out.append(f)
    return sorted(out)


def _lab_binary(name: str) -> Path:
    """The lab's build of ``name`` (lab/controlplane.py's BIN: kubectl, kube-apiserver, ...)."""
    from controlplane import BIN

    if name not in BIN:
        raise LabError(f"no lab binary {name!r} (lab/controlplane.py BIN: {', '.join(sorted(BIN))})")
    if not BIN[name].is_file():
        raise LabError(f"{BIN[name]} is not built: run `bash lab/build-binaries.sh`")
    return BIN[name]


def _pyenv_python(series: str) -> Path:
    """The newest ``~/.pyenv/versions/<series>.N`` (a CPython built with --enable-shared, as pyenv does here)."""
    found = sorted(
        (p for p in PYENV_VERSIONS.glob(f"{series}.*") if p.name[len(series) + 1:].isdigit()),
        key=lambda p: int(p.name[len(series) + 1:]),
    )
    if not found:
        raise LabError(f"no CPython {series} in {PYENV_VERSIONS} (pyenv install {series})")
    return found[-1]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- layers
def _member_name(name: str) -> str:
    """A tar member's path without its leading ``./`` (``.`` for the root itself); a name of a dot file stays."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") or "."


def _normalise_tar(src: Path) -> bytes:
    """Re-write a tar (plain or compressed) with sorted entries, fixed mtimes and numeric root ownership."""
    out = io.BytesIO()
    with tarfile.open(src) as tin, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tout:
        members = sorted(tin.getmembers(), key=lambda m: _member_name(m.name))
        for m in members:
            name = _member_name(m.name)
            if name == ".":
                continue
            m.name = name
            m.mtime = min(m.mtime, SOURCE_DATE_EPOCH)
            m.uname = m.gname = ""
            m.pax_headers = {}
            tout.addfile(m, tin.extractfile(m) if m.isreg() else None)
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    """gzip with no name and no time in its header: the same bytes give the same archive."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as fh:
        fh.write(data)
    return out.getvalue()


def normalise_tarball(path: Path) -> None:
    """Re-write a ``.tar.gz`` in place as :func:`_normalise_tar` and :func:`_gzip` do: ``ansible-galaxy
    collection build`` stamps every member with the time of the build and its gzip header with another."""
    path.write_bytes(_gzip(_normalise_tar(path)))


def _layer_deb_files(recipe: dict, work: Path) -> bytes:
    debs = work / "debs"
    root = work / "root"
    debs.mkdir()
    root.mkdir()
    # the work directory is private to root: download as root rather than as apt's sandbox user
    run(["apt-get", "-o", "APT::Sandbox::User=root", "download", *recipe["packages"]], cwd=str(debs))
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(root)])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dest, src in sorted(recipe["files"].items()):
            path = root / src
            if not path.is_file():
                raise LabError(f"image {recipe['name']}: {src} is not in {recipe['packages']}")
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size = path.stat().st_size
            info.mode = path.stat().st_mode & 0o7777
            info.mtime = SOURCE_DATE_EPOCH
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return out.getvalue()


def _layer_mmdebstrap(recipe: dict, work: Path) -> bytes:
    tarball = work / "rootfs.tar"
    argv = ["mmdebstrap", "--mode=root", f"--variant={recipe.get('variant', 'minbase')}", "--format=tar", "--quiet"]
    if recipe.get("include"):
        argv.append("--include=" + ",".join(recipe["include"]))
    for pattern in recipe.get("exclude_paths", []):
        argv.append(f"--dpkgopt=path-exclude={pattern}")
    argv += [f"--essential-hook={hook}" for hook in recipe.get("essential_hooks", [])]
    for dest, src in sorted((recipe.get("add_files") or {}).items()):
        argv += [f"--customize-hook=upload {HERE / src} {dest}", f'--customize-hook=chmod 0755 "$1"{dest}']
    for dest, name in sorted((recipe.get("lab_binaries") or {}).items()):
        argv += [
            f'--customize-hook=mkdir -p "$1"{os.path.dirname(dest)}',
            f"--customize-hook=upload {_lab_binary(name)} {dest}",
            f'--customize-hook=chmod 0755 "$1"{dest}',
        ]
    if recipe.get("pyenv_python"):
        series = recipe["pyenv_python"]
        py = _pyenv_python(series)
        lib = f'"$1"/usr/local/lib/python{series}'
        argv += [
            f'--customize-hook=cp -a {py}/. "$1"/usr/local/',
            # pyenv's extras (uv), the test suite (127 MB), scripts whose #! points into pyenv
            f'--customize-hook=rm -rf {lib}/test {lib}/site-packages/uv {lib}/site-packages/uv-* '
            '"$1"/usr/local/bin/uv "$1"/usr/local/bin/uvx "$1"/usr/local/bin/idle* "$1"/usr/local/bin/2to3*',
            f'--customize-hook=sed -i "1s|^#!{py}/bin/|#!/usr/local/bin/|" "$1"/usr/local/bin/pip* "$1"/usr/local/bin/pydoc*',
            # libpython3.x.so in /usr/local/lib (the RPATH into pyenv no longer exists), as the official image has it
            '--customize-hook=chroot "$1" ldconfig',
            f'--customize-hook=chroot "$1" /usr/local/bin/python{series} -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib, zoneinfo"',
        ]
    argv += [f"--customize-hook={hook}" for hook in recipe.get("customize_hooks", [])]
    # mmdebstrap removes apt's lists and downloaded packages itself; these files differ from run to run
    argv += ['--customize-hook=rm -f "$1"/var/cache/ldconfig/aux-cache "$1"/var/log/*.log']
    argv += [recipe.get("suite", "bookworm"), str(tarball)]
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH))
    res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise LabError(f"mmdebstrap for image {recipe['name']} failed: {res.stderr[-3000:]}")
    return _normalise_tar(tarball)


# --------------------------------------------------------------------------- OCI layout
def _base_layer(recipe: dict) -> tuple[bytes, str, dict]:
    """(gzip layer, its diff id, the base recipe) of a variant's base image, built now unless cached."""
    base = build(recipe["from"])
    blobs = base / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_digest(base).split(":", 1)[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    layer = (blobs / manifest["layers"][0]["digest"].split(":", 1)[1]).read_bytes()
    return layer, config["rootfs"]["diff_ids"][0], yaml.safe_load(recipes()[recipe["from"]].read_text())


def _buildah(*args: str) -> list[str]:
    """buildah on the lab's own storage (not the machine's /var/lib/containers), overlay driver."""
    return ["buildah", "--root", str(BUILDAH_DIR / "storage"), "--runroot", str(BUILDAH_DIR / "run"),
            "--storage-driver", "overlay", *args]


def _build_containerfile(recipe: dict, key: str, work: Path, dest: Path) -> None:
    """Build the recipe's Containerfile with buildah on image ``from``, into the OCI layout ``dest``."""
    base = build(recipe["from"])
    context = work / "context"
    src = (HERE / recipe["context"]).resolve()
    context.mkdir()
    for f in _tree_files(src, skip_suffix=".tar.gz"):
        (context / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        (context / f.relative_to(src)).write_bytes(f.read_bytes())
    # the collection is built from a copy of exactly the files the key hashes (collection_paths), so that what
    # the checkout holds beside them (docs, tests, caches of linters) changes neither the image nor its digest;
    # the tarball is normalised so that buildah's layer cache of the stage installing it holds
    collection = work / "collection"
    for f in _tree_files(*(REPO / p for p in recipe.get("collection_paths", []))):
        (collection / f.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
        (collection / f.relative_to(REPO)).write_bytes(f.read_bytes())
        (collection / f.relative_to(REPO)).chmod(f.stat().st_mode & 0o777)
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    run([str(galaxy) if galaxy.exists() else "ansible-galaxy", "collection", "build", "--force",
         "--output-path", str(context), str(collection)])
    for tarball in context.glob("*.tar.gz"):
        normalise_tarball(tarball)
    tag = f"localhost/lab/{recipe['name']}:{key}"
    # buildah 1.28 takes no transport in FROM (and `buildah pull oci:` names the image after its path, which a
    # dot in ~/.cache makes invalid): skopeo puts the base into buildah's storage first, named by its key
    base_key = base.name.rsplit("-", 1)[1]
    base_tag = f"localhost/lab/{recipe['from']}:{base_key}"
    storage = f"containers-storage:[overlay@{BUILDAH_DIR / 'storage'}+{BUILDAH_DIR / 'run'}]{base_tag}"
    run(["skopeo", "copy", "--quiet", "--insecure-policy", f"oci:{base}:{base_key}", storage])
    argv = _buildah(
        "bud", "--isolation", "chroot", "--layers", "--quiet", "--timestamp", str(SOURCE_DATE_EPOCH),
        "--pull-never", "--build-arg", f"BASE_IMAGE={base_tag}",
        # pip's bytecode validated by hash, useradd's date of the account (images/backup-runner/Containerfile)
        "--build-arg", f"SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}",
        "--label", f"lab.governed.odoo/recipe={recipe['name']}-{key}",
        "-f", str(context / "Containerfile"), "-t", tag, str(context),
    )
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise LabError(f"buildah for image {recipe['name']} failed: {(res.stdout + res.stderr)[-3000:]}")
    run(_buildah("push", "--quiet", tag, f"oci:{dest}:{key}"))
    run(_buildah("rmi", tag))  # the layers stay, as build cache


def _write_layout(recipe: dict, key: str, layer_tar: bytes | None, dest: Path) -> None:
    if recipe.get("kind") == "variant":
        layer, diff_id, base = _base_layer(recipe)
        recipe = {**{k: v for k, v in base.items() if k in ("entrypoint", "cmd")}, **recipe}
    else:
        layer, diff_id = _gzip(layer_tar), _sha(layer_tar)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(SOURCE_DATE_EPOCH))
    env = recipe.get("env", [])
    cfg: dict = {"Env": [*([] if any(e.startswith("PATH=") for e in env) else [PATH_ENV]), *env],
                 "Labels": {"lab.governed.odoo/recipe": f"{recipe['name']}-{key}"}}
    if "entrypoint" in recipe:
        cfg["Entrypoint"] = recipe["entrypoint"]
    if "cmd" in recipe:
        cfg["Cmd"] = recipe["cmd"]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": f"lab/images/build.py {recipe['name']}.yaml"}],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": _sha(config), "size": len(config)},
            "layers": [{"mediaType": MT_LAYER, "digest": _sha(layer), "size": len(layer)}],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (layer, config, manifest):
        (blobs / _sha(blob).split(":", 1)[1]).write_bytes(blob)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": MT_MANIFEST,
                        "digest": _sha(manifest),
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": key},
                    }
                ],
            },
            sort_keys=True,
        )
    )


def manifest_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


_lock_depth = 0  # how many build() calls of this process hold the cache lock now


@contextlib.contextmanager
def _cache_lock():
    """The cache's lock (another checkout may be building the same image), reentrant within this process: a build
    that needs another image inside its locked section (a base whose key changed meanwhile, because a recipe or
    this file was edited during the run) takes it again; flock on a second open file would wait for itself."""
    global _lock_depth
    if _lock_depth:
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
        return
    with open(IMAGES_CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _lock_depth = 1
        try:
            yield
        finally:
            _lock_depth = 0


def build(name: str) -> Path:
    """The OCI layout of image ``name``, built now unless the cache has it."""
    path = recipes().get(name)
    if path is None:
        raise LabError(f"no image recipe {name!r} in {HERE}")
    key = recipe_key(path)
    dest = IMAGES_CACHE / f"{name}-{key}"
    if (dest / "index.json").exists():
        return dest
    if yaml.safe_load(path.read_text()).get("kind") in ("variant", "containerfile"):
        build(yaml.safe_load(path.read_text())["from"])  # before the lock below, which the base's build takes
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    with _cache_lock():
        if (dest / "index.json").exists():
            return dest
        recipe = yaml.safe_load(path.read_text())
        t = time.monotonic()
        log(f"image {name}: building ({recipe['kind']}, key {key})")
        with tempfile.TemporaryDirectory(prefix=f"lab-image-{name}-", dir=IMAGES_CACHE) as tmp:
            work = Path(tmp)
            if recipe["kind"] == "deb-files":
                layer = _layer_deb_files(recipe, work)
            elif recipe["kind"] == "mmdebstrap":
                layer = _layer_mmdebstrap(recipe, work)
            elif recipe["kind"] in ("variant", "containerfile"):
                layer = None
            else:
                raise LabError(f"image {name}: unknown kind {recipe['kind']!r}")
            staged = work / "layout"
            if recipe["kind"] == "containerfile":
                _build_containerfile(recipe, key, work, staged)
            else:
                _write_layout(recipe, key, layer, staged)
            staged.rename(dest)
        log(f"image {name}: built in {time.monotonic() - t:.1f}s, {manifest_digest(dest)}")
    return dest


def _registry_has(registry: str, repo: str, digest: str) -> bool:
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{digest}", method="HEAD", headers={"Accept": MT_MANIFEST}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - the lab registry on loopback
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def push(name: str, registry: str) -> str:
    """Build (or find) image ``name``, make sure the registry holds it, return ``registry/lab/name@digest``."""
    layout = build(name)
    digest = manifest_digest(layout)
    repo = f"lab/{name}"
    if not _registry_has(registry, repo, digest):
        key = layout.name.rsplit("-", 1)[1]
        with tempfile.NamedTemporaryFile("r", suffix=".digest") as df:
            # --insecure-policy: no signature policy applies to images built on this machine;
            # --dest-tls-verify=false: the lab registry serves plain HTTP on loopback
            run(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    "--insecure-policy",
                    "--dest-tls-verify=false",
                    "--digestfile",
                    df.name,
                    f"oci:{layout}:{key}",
                    f"docker://{registry}/{repo}:{key}",
                ]
            )
            pushed = df.read().strip()
        if pushed != digest:
            raise LabError(f"image {name}: the registry stored {pushed}, the layout says {digest}")
    return f"{registry}/{repo}@{digest}"


if __name__ == "__main__":
    for n in sys.argv[1:] or list(recipes()):
        print(build(n))
