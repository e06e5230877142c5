# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup half of governed.odoo: one backup unit of database and filestore in an S3 store.

One job per file, data flowing one way:

    manifest.py     THE format: key layout, manifest.json, filestore index (read this first)
    errors.py       typed errors; modules turn them into a failure in one place
    s3client.py     boto3 client from the collection's S3 options (retries, timeouts, path style)
    store.py        the content-addressed object store on S3: listing, object lock, multipart,
                    manifests last, version-aware deletion
    crypto.py       optional client-side encryption (chunked AES-256-GCM stream)
    pgsource.py     the source database: pg_dump version check, exported snapshot, Odoo metadata
    dump.py         streaming pg_dump -> (zstd) -> (encryption) -> S3 multipart, no local copy
    filestore.py    content-addressed upload of the filestore, retention extension on reuse
    progress.py     percent and throughput while running (stderr, log file, module result)
    engine.py       one backup run: check, snapshot, dump + filestore concurrently, index,
                    manifest last, copy to a second endpoint
    verify.py       checksums of every object against the manifest, optional test restore
    retention.py    grandfather-father-son policy (pure) and filestore garbage selection (pure)
    prune.py        applies a retention plan to a store: locked objects reported, never forced
    restore_core.py minimal restore helpers (fetch dump, pg_restore, fetch filestore) used by the
                    test restore of backup_verify; the restore package builds on them

Nothing here imports an Ansible module; modules import from here.
"""
