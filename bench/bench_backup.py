#!/usr/bin/env python3
"""Benchmark of governed.odoo's backup against the raw tools, on the lab's real PostgreSQL and S3.

What it measures, in one run (issue 3, "Benchmarks"):

1. full backup: ``governed.odoo.backup`` (database and filestore concurrently, into an empty store)
   against the raw tools run one after the other: ``pg_dump -Fc`` streamed to S3 with
   ``rclone rcat``, then ``rclone copy`` of the filestore (same parallelism as ours: 8 transfers);
2. incremental backup after 1% new attachments, against our full backup;
3. restore (new database + filestore directory) against ``rclone copyto`` of the dump,
   ``pg_restore -j2`` and ``rclone copy`` of the filestore back, one after the other;
4. peak memory (VmHWM) of the backup process at 1 GB and at 4 GB of data (database + filestore).

Dataset (tests/fixtures/odoo_dataset.py): at ``--scale 1`` a 1 GiB database and a 2 GiB filestore in
20,000 files; ``--scale 0.05`` is a quick run of the same shape. Datasets are generated once and
reused by later runs with the same parameters (``--regenerate`` to force).

Targets printed beside the ratios: full <= 0.8x raw tools, incremental <= 0.15x full, restore
<= 1.0x raw tools, peak memory < 256 MiB and about the same at 1 GB and 4 GB.

    .venv/bin/python bench/bench_backup.py --scale 0.05        # quick
    .venv/bin/python bench/bench_backup.py --scale 1 --json bench/results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import odoo_dataset  # noqa: E402
import psycopg  # noqa: E402

GiB = 1024**3
MiB = 1024**2
PY = str(ROOT / ".venv" / "bin" / "python")
RCLONE = str(ROOT / ".venv" / "bin" / "rclone")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def lab():
    path = ROOT / ".lab" / "connection.json"
    if not path.exists():
        sys.exit("the lab is not up: run scripts/lab up postgres s3")
    return json.loads(path.read_text())


class Lab:
    def __init__(self):
        c = lab()
        p = c["postgres"]["primary"]
        self.bin_dir = c["postgres"].get("bin_dir") or "/usr/lib/postgresql/15/bin"
        self.pg = {"login_host": p["host"], "login_port": p["port"], "login_user": p["user"],
                   "login_password": p["password"]}
        self.dsn = p["dsn"]
        a = c["s3"]["a"]
        self.s3 = {"endpoint_url": a["endpoint"], "access_key": a["access_key"], "secret_key": a["secret_key"],
                   "region": a["region"]}

    def pg_env(self, db=None):
        env = dict(os.environ)
        env.update(PGHOST=str(self.pg["login_host"]), PGPORT=str(self.pg["login_port"]), PGUSER=self.pg["login_user"],
                   PGPASSWORD=self.pg["login_password"])
        if db:
            env["PGDATABASE"] = db
        return env

    def rclone_env(self):
        env = dict(os.environ)
        env.update({
            "RCLONE_CONFIG_LABA_TYPE": "s3",
            "RCLONE_CONFIG_LABA_PROVIDER": "SeaweedFS",
            "RCLONE_CONFIG_LABA_ACCESS_KEY_ID": self.s3["access_key"],
            "RCLONE_CONFIG_LABA_SECRET_ACCESS_KEY": self.s3["secret_key"],
            "RCLONE_CONFIG_LABA_ENDPOINT": self.s3["endpoint_url"],
            "RCLONE_CONFIG_LABA_REGION": self.s3["region"],
            "RCLONE_CONFIG_LABA_FORCE_PATH_STYLE": "true",
        })
        return env

    def client(self):
        from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import make_client

        return make_client(self.s3)

    def bucket(self, name):
        c = self.client()
        try:
            c.create_bucket(Bucket=name)
        except Exception as exc:
            if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(exc):
                raise
        return name

    def empty_bucket(self, name):
        c = self.client()
        token = None
        while True:
            kw = {"Bucket": name}
            if token:
                kw["ContinuationToken"] = token
            try:
                page = c.list_objects_v2(**kw)
            except Exception:
                return
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                c.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        with contextlib.suppress(Exception):  # best effort
            c.delete_bucket(Bucket=name)


# ------------------------------------------------------------------------------------ datasets


def ensure_dataset(lb, workdir, name, db_bytes, files, files_bytes, regenerate=False):
    fs = Path(workdir) / "filestore" / name
    marker = Path(workdir) / f"{name}.json"
    want = {"db_bytes": db_bytes, "files": files, "files_bytes": files_bytes, "version": 3}
    if not regenerate and marker.exists() and fs.is_dir():
        info = json.loads(marker.read_text())
        if info.get("params") == want:
            try:
                with psycopg.connect(odoo_dataset._dsn_for(lb.dsn, name)) as conn:
                    uuid = conn.execute("SELECT value FROM ir_config_parameter WHERE key='database.uuid'").fetchone()
                if uuid and uuid[0] == info.get("uuid"):
                    log(f"dataset {name}: reusing ({info['stats']['database_size'] / MiB:.0f} MiB database, "
                        f"{info['stats']['files']} files)")
                    return info["stats"], str(fs)
            except psycopg.Error:
                pass
    log(f"dataset {name}: generating {db_bytes / MiB:.0f} MiB database, {files} files, {files_bytes / MiB:.0f} MiB")
    seed = zlib.crc32(name.encode()) % 1000
    stats = odoo_dataset.generate(lb.dsn, name, str(fs), db_bytes, files, files_bytes, seed=seed, jobs=2, log=log)
    with psycopg.connect(odoo_dataset._dsn_for(lb.dsn, name)) as conn:
        uuid = conn.execute("SELECT value FROM ir_config_parameter WHERE key='database.uuid'").fetchone()[0]
    marker.write_text(json.dumps({"params": want, "stats": stats, "uuid": uuid}, indent=1))
    return stats, str(fs)


# ------------------------------------------------------------------------------------ children


def child_backup(spec):
    """Run one backup in this (child) process and print the result with peak memory."""
    from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import (
        BackupOptions,
        StoreTarget,
        run_backup,
    )

    t0 = time.monotonic()
    opts = BackupOptions(environment=spec["environment"], pg=spec["pg"], target=StoreTarget(spec["s3"], spec["bucket"]),
                         filestore_path=spec["filestore"], pg_bin_dir=spec["bin_dir"], threads=spec.get("threads", 8),
                         progress_interval=spec.get("progress_interval", 30), row_counts=spec.get("row_counts", True),
                         compression_level=spec.get("level", 3))
    res = run_backup(opts)
    res["wall"] = time.monotonic() - t0
    res["peak_rss"] = peak_rss()
    print(json.dumps(res, default=str))


def child_restore(spec):
    from ansible_collections.governed.odoo.plugins.module_utils.backup import restore_core
    from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import StoreTarget

    t0 = time.monotonic()
    store = StoreTarget(spec["s3"], spec["bucket"]).open()
    m = store.find_backup(spec["environment"], spec["db"])
    res = restore_core.restore_backup(store, m, spec["pg"], spec["target"], spec["filestore"], spec["workdir"],
                                      jobs=2, threads=spec.get("threads", 8), pg_bin_dir=spec["bin_dir"])
    res["wall"] = time.monotonic() - t0
    res["peak_rss"] = peak_rss()
    print(json.dumps(res, default=str))


def child_module_restore(spec):
    """The restore module's own code path (restore/flow.py): restore into a new database, verify it (row counts,
    every attachment), neutralize it (SQL mode: a non-production target), switch the environment to it."""
    from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import StoreTarget
    from ansible_collections.governed.odoo.plugins.module_utils.restore import flow

    t0 = time.monotonic()
    store = StoreTarget(spec["s3"], spec["bucket"]).open()
    opts = flow.Options(environment=spec["environment"], db_name=spec["db"], target=dict(spec["pg"], db="postgres"),
                        target_db=spec["target"], target_environment="staging", filestore_path=spec["data_dir"],
                        neutralize="sql", jobs=2, workers=spec.get("threads", 8), pg_bin_dir=spec["bin_dir"],
                        work_dir=spec["workdir"], keep_previous=False, progress_stream=sys.stderr)
    res = flow.run(store, opts)
    out = {"seconds": round(time.monotonic() - t0, 3), "phases": res.get("phases"), "switched": res.get("switched")}
    out["wall"] = out["seconds"]
    out["peak_rss"] = peak_rss()
    print(json.dumps(out, default=str))


def peak_rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def run_child(kind, spec):
    t0 = time.monotonic()
    out = subprocess.run([PY, __file__, f"--child-{kind}", json.dumps(spec)], capture_output=True, text=True,
                         check=False)
    wall = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed: {out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall"] = wall
    return res


# ------------------------------------------------------------------------------------ baselines


def sh(argv, env, stdin=None, stdout=None):
    return subprocess.run(argv, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, check=True)


def baseline_backup(lb, db, fs, bucket):
    env = {**lb.rclone_env(), **lb.pg_env(db)}
    t0 = time.monotonic()
    dump = subprocess.Popen([f"{lb.bin_dir}/pg_dump", "-Fc", "--no-password"], env=env, stdout=subprocess.PIPE)
    subprocess.run([RCLONE, "rcat", "--s3-upload-concurrency", "4", f"laba:{bucket}/base/{db}.dump"], env=env,
                   stdin=dump.stdout, check=True)
    dump.stdout.close()
    if dump.wait() != 0:
        raise RuntimeError("baseline pg_dump failed")
    t1 = time.monotonic()
    sh([RCLONE, "copy", "--transfers", "8", "--checkers", "16", fs, f"laba:{bucket}/base/filestore"], env)
    t2 = time.monotonic()
    return {"pg_dump_s3": t1 - t0, "rclone_copy": t2 - t1, "total": t2 - t0}


def baseline_restore(lb, db, bucket, target, fs_dest, workdir):
    env = {**lb.rclone_env(), **lb.pg_env()}
    drop_db(lb, target)
    t0 = time.monotonic()
    local = Path(workdir) / "baseline.dump"
    sh([RCLONE, "copyto", f"laba:{bucket}/base/{db}.dump", str(local)], env)
    t1 = time.monotonic()
    sh([f"{lb.bin_dir}/createdb", "--no-password", target], env)
    sh([f"{lb.bin_dir}/pg_restore", "-j2", "--no-owner", "--no-acl", "--no-password", "-d", target, str(local)], env)
    t2 = time.monotonic()
    sh([RCLONE, "copy", "--transfers", "8", "--checkers", "16", f"laba:{bucket}/base/filestore", fs_dest], env)
    t3 = time.monotonic()
    local.unlink()
    return {"rclone_copyto": t1 - t0, "pg_restore_j2": t2 - t1, "rclone_copy_back": t3 - t2, "total": t3 - t0}


def remove_attachments(lb, db, fs, fnames):
    with psycopg.connect(odoo_dataset._dsn_for(lb.dsn, db)) as conn:
        conn.execute("DELETE FROM ir_attachment WHERE store_fname = ANY(%s)", (list(fnames),))
    for fname in fnames:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(fs, fname))


def drop_db(lb, name):
    with psycopg.connect(lb.dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


# ------------------------------------------------------------------------------------ main


def fmt_s(x):
    return f"{x:7.1f}s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 1 GiB database + 2 GiB / 20,000 files")
    ap.add_argument("--workdir", default="/var/tmp/governed-bench")
    ap.add_argument("--regenerate", action="store_true", help="generate the datasets even if present")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 1 GB / 4 GB peak memory runs")
    ap.add_argument("--skip-restore", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep buckets and restored databases")
    ap.add_argument("--prepare", action="store_true", help="only generate (or check) the datasets, then exit")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--child-backup", help=argparse.SUPPRESS)
    ap.add_argument("--child-restore", help=argparse.SUPPRESS)
    ap.add_argument("--child-module-restore", help=argparse.SUPPRESS)
    ap.add_argument("--skip-module-restore", action="store_true",
                    help="skip the run of the restore module's own path (verification, neutralization, switch)")
    args = ap.parse_args(argv)
    if args.child_backup:
        child_backup(json.loads(args.child_backup))
        return 0
    if args.child_restore:
        child_restore(json.loads(args.child_restore))
        return 0
    if args.child_module_restore:
        child_module_restore(json.loads(args.child_module_restore))
        return 0

    lb = Lab()
    s = args.scale
    tag = f"s{str(s).replace('.', '_')}"
    btag = tag.replace("_", "-")  # bucket names take no underscore
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = {"scale": s, "host": {"cpus": os.cpu_count(), "load_before": os.getloadavg()}}

    main_db = f"bench_{tag}_main"
    stats, fs = ensure_dataset(lb, work, main_db, int(1 * GiB * s), max(100, int(20000 * s)), int(2 * GiB * s),
                               args.regenerate)
    results["dataset"] = stats
    if args.prepare:
        for label, total in (("1GB", 1 * GiB * s), ("4GB", 4 * GiB * s)):
            name = f"bench_{tag}_mem{label.lower()}"
            ensure_dataset(lb, work, name, int(total / 3), max(50, int(total * 2 / 3 / (100 * 1024))),
                           int(total * 2 / 3), args.regenerate)
        return 0
    base_bucket = lb.bucket(f"bench-{btag}-base-{os.getpid()}")
    ours_bucket = lb.bucket(f"bench-{btag}-ours-{os.getpid()}")
    spec = {"environment": "bench", "pg": dict(lb.pg, db=main_db), "s3": lb.s3, "bucket": ours_bucket,
            "filestore": fs, "bin_dir": lb.bin_dir}
    restored = []
    added = None
    try:
        # warm the page cache equally for both contenders: one read of the filestore
        subprocess.run(["tar", "cf", "/dev/null", fs], check=True)

        log("baseline full backup: pg_dump -Fc | rclone rcat, then rclone copy")
        base = baseline_backup(lb, main_db, fs, base_bucket)
        results["baseline_backup"] = base
        log(f"  {base}")

        log("ours: full backup")
        full = run_child("backup", spec)
        results["full"] = {k: full[k] for k in ("seconds", "wall", "process_wall", "peak_rss", "requests",
                                                "database", "filestore", "timings")}
        log(f"  {full['seconds']:.1f}s, uploaded {full['filestore']['uploaded']} files, "
            f"peak {full['peak_rss'] / MiB:.0f} MiB")

        added = odoo_dataset.add_attachments(lb.dsn, main_db, fs, fraction=0.01, seed=42)
        log(f"added {added['files']} attachments ({added['bytes'] / MiB:.1f} MiB)")
        incr = run_child("backup", spec)
        results["incremental"] = {k: incr[k] for k in ("seconds", "wall", "process_wall", "peak_rss", "requests",
                                                       "database", "filestore", "timings")}
        results["incremental"]["added"] = {"files": added["files"], "bytes": added["bytes"]}
        log(f"  incremental {incr['seconds']:.1f}s, uploaded {incr['filestore']['uploaded']} files "
            f"({incr['filestore']['uploaded_bytes'] / MiB:.1f} MiB), puts {incr['requests']['put']}")

        if not args.skip_restore:
            # the baseline copy of the same (post-increment) state, for a like-for-like restore
            base_bucket2 = lb.bucket(f"bench-{btag}-base2-{os.getpid()}")
            baseline_backup(lb, main_db, fs, base_bucket2)
            with tempfile.TemporaryDirectory(dir=work) as tmp:
                tgt = f"{main_db}_rb"
                restored.append(tgt)
                log("baseline restore: rclone copyto + pg_restore -j2 + rclone copy back")
                rb = baseline_restore(lb, main_db, base_bucket2, tgt, f"{tmp}/base_fs", tmp)
                results["baseline_restore"] = rb
                log(f"  {rb}")
                tgt2 = f"{main_db}_ro"
                restored.append(tgt2)
                drop_db(lb, tgt2)
                log("ours: restore")
                ro = run_child("restore", {**spec, "db": main_db, "target": tgt2, "filestore": f"{tmp}/ours_fs",
                                           "workdir": tmp})
                results["restore"] = {k: ro.get(k) for k in ("seconds", "wall", "process_wall", "peak_rss", "dump",
                                                             "filestore", "pg_restore_seconds")}
                log(f"  {ro['seconds']:.1f}s")
                if not args.skip_module_restore:
                    tgt3 = f"{main_db}_rm"
                    restored.append(tgt3)
                    drop_db(lb, tgt3)
                    log("ours: the restore module's path (restore, verify, neutralize, switch)")
                    rm = run_child("module-restore", {**spec, "db": main_db, "target": tgt3,
                                                      "data_dir": f"{tmp}/module_data", "workdir": tmp})
                    results["module_restore"] = {k: rm.get(k) for k in ("seconds", "peak_rss", "phases")}
                    log(f"  {rm['seconds']:.1f}s")
            if not args.keep:
                lb.empty_bucket(base_bucket2)

        if not args.skip_memory:
            results["memory"] = {}
            for label, total in (("1GB", 1 * GiB * s), ("4GB", 4 * GiB * s)):
                name = f"bench_{tag}_mem{label.lower()}"
                mstats, mfs = ensure_dataset(lb, work, name, int(total / 3), max(50, int(total * 2 / 3 / (100 * 1024))),
                                             int(total * 2 / 3), args.regenerate)
                mb = lb.bucket(f"bench-{btag}-mem-{label.lower()}-{os.getpid()}")
                try:
                    r = run_child("backup", {**spec, "pg": dict(lb.pg, db=name), "bucket": mb, "filestore": mfs})
                finally:
                    if not args.keep:
                        with contextlib.suppress(Exception):
                            lb.empty_bucket(mb)
                results["memory"][label] = {"peak_rss": r["peak_rss"], "seconds": r["seconds"],
                                            "database_size": mstats["database_size"],
                                            "files_bytes": mstats["files_bytes"], "files": mstats["files"]}
                log(f"  memory at {label}: {r['peak_rss'] / MiB:.0f} MiB")
    finally:
        # each step on its own: a failure in one (the lab restarted underneath) must not skip the rest
        if added:  # put the dataset back as it was, so that the next run measures the same thing
            with contextlib.suppress(Exception):
                remove_attachments(lb, main_db, fs, added["fnames"])
        if not args.keep:
            for name in restored:
                with contextlib.suppress(Exception):
                    drop_db(lb, name)
            for name in (base_bucket, ours_bucket):
                with contextlib.suppress(Exception):
                    lb.empty_bucket(name)
    results["host"]["load_after"] = os.getloadavg()
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


def report(r):
    print()
    d = r["dataset"]
    print(f"dataset: database {d['database_size'] / GiB:.2f} GiB, filestore {d['files_bytes'] / GiB:.2f} GiB in "
          f"{d['files']} files (scale {r['scale']}); load average before {r['host']['load_before'][0]:.1f}")
    rows = []
    b, f = r["baseline_backup"], r["full"]
    rows.append(("full backup", f["seconds"], b["total"], f["seconds"] / b["total"], "<= 0.80"))
    i = r["incremental"]
    rows.append(("incremental (1% new files)", i["seconds"], f["seconds"], i["seconds"] / f["seconds"], "<= 0.15"))
    if "restore" in r:
        ro, rb = r["restore"], r["baseline_restore"]
        rows.append(("restore", ro["seconds"], rb["total"], ro["seconds"] / rb["total"], "<= 1.00"))
    print(f"{'':28} {'ours':>9} {'against':>9} {'ratio':>7}  target")
    for name, ours, against, ratio, target in rows:
        ok = ratio <= float(target.split()[-1])
        print(f"{name:28} {fmt_s(ours)} {fmt_s(against)} {ratio:7.3f}  {target} {'ok' if ok else 'MISSED'}")
    print(f"  baseline backup: pg_dump -Fc | rclone rcat {b['pg_dump_s3']:.1f}s + rclone copy {b['rclone_copy']:.1f}s")
    print(f"  incremental: {i['filestore']['uploaded']} files / {i['filestore']['uploaded_bytes'] / MiB:.1f} MiB "
          f"uploaded ({i['added']['files']} added), {i['requests']['put']} PUT requests, "
          f"{i['requests']['put_bytes'] / MiB:.1f} MiB sent (database archive included)")
    idb = i.get("database") or {}
    if idb.get("table_archives"):
        print(f"  incremental database: {len(idb['tables_reused'])} of {idb['table_archives']} table archives reused, "
              f"dumped {', '.join(idb['tables_dumped']) or 'none'}; {idb['uploaded_size'] / MiB:.1f} MiB of "
              f"{idb['stored_size'] / MiB:.1f} MiB stored uploaded")
    if "restore" in r:
        rb = r["baseline_restore"]
        print(f"  baseline restore: copyto {rb['rclone_copyto']:.1f}s + pg_restore -j2 {rb['pg_restore_j2']:.1f}s + "
              f"copy back {rb['rclone_copy_back']:.1f}s")
    if "module_restore" in r:
        mr = r["module_restore"]
        phases = ", ".join(f"{p['name']} {p['seconds']:.1f}s" for p in mr.get("phases") or [] if p.get("seconds"))
        print(f"  restore module path (also verifies rows and every attachment, neutralizes, switches): "
              f"{mr['seconds']:.1f}s = {mr['seconds'] / r['baseline_restore']['total']:.2f}x the raw tools, "
              f"which verify nothing; {phases}")
    print(f"peak memory of the backup process: full {f['peak_rss'] / MiB:.0f} MiB, incremental "
          f"{i['peak_rss'] / MiB:.0f} MiB (target < 256 MiB)")
    for label, m in (r.get("memory") or {}).items():
        print(f"  at {label} of data ({m['database_size'] / MiB:.0f} MiB db + {m['files_bytes'] / MiB:.0f} MiB files): "
              f"{m['peak_rss'] / MiB:.0f} MiB in {m['seconds']:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
