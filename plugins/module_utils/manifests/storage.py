# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access of one Odoo instance to its environment's object storage: the ConfigMap and the Secret Odoo's
object-storage attachment module and the backup jobs read, and the egress NetworkPolicy that lets their pods reach
the S3 API.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    instance_labels,
    labelled,
    metadata,
    s3_port,
    s3_url,
)


def _config_map(v, ns, storage_labels, url):
    # Read by Odoo's object-storage attachment module and by backup jobs (environment variables; keys in the Secret).
    s3 = v["storage_s3"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata("odoo-object-storage", ns, storage_labels),
        "data": {
            "AWS_HOST": url,
            "AWS_REGION": s3.get("region", "us-east-1"),
            "AWS_BUCKETNAME": v["storage_attachments_bucket"],
            "AWS_BUCKET_PREFIX": v["storage_instance_prefix"],
            "GOVERNED_BACKUP_BUCKET": v["storage_backups_bucket"],
        },
    }


def _secret(v, ns, storage_labels):
    s3 = v["storage_s3"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata("odoo-object-storage", ns, storage_labels),
        "type": "Opaque",
        "stringData": {"AWS_ACCESS_KEY_ID": s3["access_key"], "AWS_SECRET_ACCESS_KEY": s3["secret_key"]},
    }


def _egress_policy(v, ns, labels, url):
    """Odoo and backup pods may reach the S3 API's network on its port."""
    s3 = v["storage_s3"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-egress-to-object-storage", ns, labels),
        "spec": {
            "podSelector": {
                "matchExpressions": [
                    {"key": "app.kubernetes.io/name", "operator": "In", "values": ["odoo", "odoo-backup"]}
                ]
            },
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": s3["cidr"]}}],
                    # storage_s3.port, else the URL's, else 443 for https and 80 for http
                    "ports": [{"protocol": "TCP", "port": s3_port(s3, url)}],
                }
            ],
        },
    }


def objects(v):
    """The object storage objects of one instance, in order."""
    labels = instance_labels(v)
    ns = v["governed_odoo_namespace"]
    # where pods reach the S3 API: cluster_endpoint_url when the cluster's address differs from the controller's
    url = s3_url(v["storage_s3"])
    # the ConfigMap and the Secret are the object-storage component; the policy carries the instance's labels only
    storage_labels = labelled(labels, **{"app.kubernetes.io/component": "object-storage"})
    return [
        _config_map(v, ns, storage_labels, url),
        _secret(v, ns, storage_labels),
        _egress_policy(v, ns, labels, url),
    ]
