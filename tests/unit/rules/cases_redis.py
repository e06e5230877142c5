"""For every redis rule: inputs that trigger it and inputs that pass it (one such file per layer).

test_rules.py checks that each "bad" input gives at least one finding of that rule (and, where a message is
given, one that contains it) and that each "good" input gives none. A rule without cases fails the
completeness test: every rule has a unit test that triggers it and one that does not.
"""

from __future__ import annotations

DIGEST = "@sha256:" + "a" * 64

CASES = {
    "redis.password_length": {
        "bad": [({"redis_password": "short"}, "at least 16 characters"), ({}, None), ({"redis_password": None}, None)],
        "good": [{"redis_password": "x" * 16}],
    },
    "redis.maxmemory_size": {
        "bad": [({"redis_maxmemory": "lots"}, "redis_maxmemory=lots"), ({"redis_maxmemory": "256 mb"}, None)],
        "good": [{"redis_maxmemory": "256mb"}, {"redis_maxmemory": "1GB"}, {"redis_maxmemory": "1024"}],
    },
    "redis.external_server": {
        "bad": [
            ({"redis_placement": "external", "redis_external": {"host": "r"}}, "redis_external.cidr is required"),
            ({"redis_placement": "external", "redis_external": {}}, "redis_external.host is required"),
        ],
        "good": [
            {"redis_placement": "in_cluster", "redis_external": {}},
            {"redis_placement": "external", "redis_external": {"host": "r", "cidr": "10.0.0.0/24"}},
        ],
    },
    "redis.image_pinned": {
        "bad": [
            ({"redis_placement": "in_cluster", "redis_image": "", "governed_odoo_environment": "dev"}, "is required"),
            (
                {"redis_placement": "in_cluster", "redis_image": "redis:7", "governed_odoo_environment": "qa"},
                "must be pinned by digest",
            ),
            (
                {"redis_placement": "external", "redis_exporter_image": "exp:1", "governed_odoo_environment": "prod"},
                "redis_exporter_image=exp:1",
            ),
        ],
        "good": [
            {"redis_placement": "in_cluster", "redis_image": "redis:7", "governed_odoo_environment": "dev"},
            {"redis_placement": "in_cluster", "redis_image": "redis" + DIGEST, "governed_odoo_environment": "prod"},
            {"redis_placement": "external", "redis_image": "", "governed_odoo_environment": "prod"},
        ],
    },
}

CASES["redis.external_cidr"] = {
    "bad": [
        (
            {"redis_placement": "external", "redis_external": {"host": "r", "cidr": "10.0.0.1/24"}},
            "redis_external.cidr[0] '10.0.0.1/24' has host bits set",
        ),
        (
            {
                "redis_placement": "external",
                "redis_external": {"cidr": "0.0.0.0/0"},
                "governed_odoo_environment": "prod",
            },
            "any address",
        ),
        ({"redis_placement": "external", "redis_external": {"cidr": "redis.example"}}, "is not a valid IP address"),
    ],
    "good": [
        {"redis_placement": "external", "redis_external": {"cidr": "10.0.0.0/24"}, "governed_odoo_environment": "prod"},
        {"redis_placement": "external", "redis_external": {"cidr": "0.0.0.0/0"}, "governed_odoo_environment": "dev"},
        {"redis_placement": "in_cluster", "redis_external": {"cidr": "bogus"}},
        {"redis_placement": "external", "redis_external": {}},
    ],
}

CASES["redis.config_text"] = {
    "bad": [
        ({"redis_rdb_save": "900 1 300"}, "redis_rdb_save=900 1 300 must be pairs of whole numbers"),
        ({"redis_rdb_save": "900 1\nappendonly yes"}, "redis_rdb_save=(a value with a control character)"),
        ({"redis_rdb_save": "900s 1"}, None),
        ({"redis_rdb_save": ""}, None),
        ({"redis_key_prefix": "civil-dev:\n"}, "redis_key_prefix must not contain spaces or control characters"),
        ({"redis_key_prefix": "civil dev:"}, None),
    ],
    "good": [
        {"redis_rdb_save": "900 1 300 100 60 10000", "redis_key_prefix": "civil-dev:"},
        {"redis_rdb_save": "60 1"},
    ],
}

CASES["redis.numbers"] = {
    "bad": [
        ({"redis_db_index": 16}, "redis_db_index=16 must be a whole number from 0 to 15"),
        ({"redis_db_index": "one"}, None),
        ({"redis_session_expiration": 0}, "redis_session_expiration=0 must be a whole number of seconds"),
        ({"redis_uid": 0}, "redis_uid=0 must be a user id"),
        ({"redis_placement": "external", "redis_external": {"port": 70000}}, "redis_external.port=70000"),
    ],
    "good": [
        {"redis_db_index": "3", "redis_session_expiration": 604800, "redis_uid": 999},
        {"redis_placement": "external", "redis_external": {"host": "r", "port": 6380}},
        {"redis_placement": "in_cluster", "redis_external": {"port": "x"}},
    ],
}

CASES["redis.password_characters"] = {
    "bad": [
        ({"redis_password": "abcdefgh@ijklmnop"}, "('@')"),
        ({"redis_password": 'abcdefgh"ijklmnop'}, "'\"'"),
        ({"redis_password": "abcdefgh ijklmnop\\"}, "(' ', '\\\\')"),
        ({"redis_password": "abcdefgh/ij?kl#mn%op"}, None),
        ({"redis_password": 'abcdefghijklmnop\nrename-command GET ""'}, "a control or space character"),
    ],
    "good": [
        {"redis_password": "Abcdefgh-ijkl_mnop.q:r~s!t$u&v*w+x,y;z=0^1"},
        {"redis_password": "x" * 32},
        {},
    ],
}

RESOURCES = {"requests": {"cpu": "50m", "memory": "320Mi"}, "limits": {"cpu": "500m", "memory": "384Mi"}}

CASES["redis.quantities"] = {
    "bad": [
        (
            {"redis_resources": {"limits": {"memory": "8 GB"}}},
            "redis_resources.limits.memory=8 GB is not a Kubernetes quantity",
        ),
        (
            {"redis_resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "384Mi"}}},
            "redis_resources.requests.memory is above redis_resources.limits.memory",
        ),
        ({"redis_resources": {"limits": {"cpu": -1}}}, "redis_resources.limits.cpu=-1"),
        ({"redis_resources": "small"}, "redis_resources must be a mapping"),
        (
            {"redis_resources": RESOURCES, "redis_persistence": "aof", "redis_storage_size": "2 GB"},
            "redis_storage_size=2 GB is not a positive Kubernetes quantity",
        ),
        ({"redis_persistence": "rdb", "redis_storage_size": "0"}, "redis_storage_size=0"),
    ],
    "good": [
        {
            "redis_placement": "in_cluster",
            "redis_resources": RESOURCES,
            "redis_persistence": "aof",
            "redis_storage_size": "2Gi",
        },
        {
            "redis_resources": {"limits": {"memory": "1e9", "cpu": 2}},
            "redis_persistence": "none",
            "redis_storage_size": "nonsense, unused",
        },
        {"redis_placement": "external", "redis_resources": {"limits": {"memory": "8 GB"}}},
    ],
}
