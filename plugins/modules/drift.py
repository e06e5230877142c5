#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drift
short_description: Compare one Odoo instance's declared state with what runs, field by field, changing nothing
version_added: 0.4.0
description:
  - Compares, for one instance, what C(playbooks/site.yml) would apply with what runs, and lists every field that
    differs as a finding (layer, object, field path, declared value, live value). C(playbooks/drift.yml) runs it for
    every instance and writes the JSON and HTML report.
  - B(Kubernetes objects) (O(objects_json), the instance's rendered set exactly as site.yml hands it to
    C(governed.odoo.k8s_apply_set)). The apply engine runs in dry-run mode with the same ApplySet and field
    manager; where an apply would change an object, the server's dry-run answer is compared with the live object.
    So the fields compared are those the collection manages (its field manager's server-side apply fields),
    such as images, replica counts, ConfigMap data, labels, anything the roles render. Objects missing from the cluster
    and live members of the set that are no longer declared are findings too.
  - Secret values are compared as keyed hashes (HMAC-SHA256 under a key drawn for the run), never shown.
  - B(Database) (O(database), C(governed.odoo.pg_database)'s options) - roles, their flags, connection limits
    and settings, membership, the database's owner and encoding, its grants (C(CONNECT), C(TEMPORARY),
    C(CREATE)) and schema C(public); a password is only said to work (C(as declared)) or not (C(differs)).
  - B(Buckets) (O(buckets), C(governed.odoo.s3_bucket)'s options) - versioning, object lock, lifecycle rules
    (matched by ID) and tags.
  - Nothing is written. Kubernetes is asked with server-side dry runs, PostgreSQL and S3 are only read. A layer
    that cannot be read is listed in RV(errors) and does not stop the others.
  - With a local connection an action plugin runs the comparison in the controller's process.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.kubernetes
attributes:
  check_mode:
    description: Supported; the module never changes anything, in check mode or not.
    support: full
  diff_mode:
    description: Not supported; RV(drift) lists each changed field.
    support: none
options:
  instance:
    description: Name of the instance (reported, and the default ApplySet name C(governed-odoo-<instance>)).
    type: str
    required: true
  applyset:
    description:
      - Name of the ApplySet the instance's objects were applied as.
      - If not set, C(governed-odoo-<instance>), as site.yml names it.
    type: str
  namespace:
    description: Namespace of the ApplySet parent, and of namespaced objects that do not name one.
    type: str
  objects_json:
    description:
      - The declared Kubernetes objects, as JSON arrays of objects (what the roles keep as facts).
      - Kubernetes objects are not compared when not set.
    type: list
    elements: str
  field_manager:
    description: The server-side apply field manager the objects were applied with.
    type: str
    default: governed.odoo
  ca_cert:
    description:
      - Path to a CA certificate bundle to verify the API server with, overriding the kubeconfig's.
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
  database:
    description:
    - The database and its roles as C(governed.odoo.pg_database) declares them, with the same options; the same
      connection options reach the server. Not compared when not set.
    type: dict
    suboptions:
      login_host:
        description:
        - Host name or IP address of the PostgreSQL server, or the directory of its Unix socket.
        - If not set, libpq's default applies (E(PGHOST), then the local Unix socket).
        type: str
      login_port:
        description:
        - TCP port of the PostgreSQL server.
        - If not set, libpq's default applies (E(PGPORT), then V(5432)).
        type: int
      login_user:
        description:
        - Role to connect as.
        - If not set, libpq's default applies (E(PGUSER), then the name of the operating system user).
        type: str
      login_password:
        description:
        - Password of O(database.login_user).
        - If not set, libpq's default applies (E(PGPASSWORD), then C(~/.pgpass)).
        type: str
      db:
        description:
        - Name of the database to connect to.
        - If not set, libpq's default applies (E(PGDATABASE), then a database named like O(database.login_user)).
        type: str
      name:
        description: Name of the database.
        type: str
        required: true
      owner:
        description: Name of the owner role (C(NOLOGIN)).
        type: str
        required: true
      app:
        description: The application role, which Odoo logs in as.
        type: dict
        required: true
        suboptions:
          name:
            description: Role name.
            type: str
            required: true
          password:
            description: Its password.
            type: str
            required: true
          connection_limit:
            description: Its connection limit; V(-1) means none.
            type: int
            default: -1
      reporting:
        description: The read-only reporting role.
        type: dict
        required: true
        suboptions:
          name:
            description: Role name.
            type: str
            required: true
          password:
            description: Its password.
            type: str
            required: true
          connection_limit:
            description: Its connection limit; V(-1) means none.
            type: int
            default: -1
      ssl_mode:
        description:
        - libpq's C(sslmode) for every connection the module makes.
        - If not set, libpq's default applies (E(PGSSLMODE), then V(prefer)).
        type: str
        choices:
        - disable
        - allow
        - prefer
        - require
        - verify-ca
        - verify-full
      connect_timeout:
        description: Seconds to wait for each connection.
        type: int
        default: 10
  buckets:
    description:
    - Buckets as C(governed.odoo.s3_bucket) declares them (its options but C(state) and C(force)).
    type: list
    elements: dict
    default: []
    suboptions:
      endpoint_url:
        description:
        - URL of the S3 API, for example V(https://s3.example.org:8333) for a self-hosted object store.
        - If not set, boto3's default applies (E(AWS_ENDPOINT_URL_S3), E(AWS_ENDPOINT_URL), then AWS).
        type: str
      access_key:
        description:
        - Access key ID.
        - If not set, boto3's credential chain applies (E(AWS_ACCESS_KEY_ID), shared credentials file, instance role).
        type: str
      secret_key:
        description:
        - Secret access key belonging to O(buckets.access_key).
        - If not set, boto3's credential chain applies (E(AWS_SECRET_ACCESS_KEY), shared credentials file, instance
          role).
        type: str
      region:
        description:
        - Region to sign requests for.
        - If not set, boto3's default applies (E(AWS_REGION), E(AWS_DEFAULT_REGION), shared config file).
        type: str
      s3_validate_certs:
        description:
        - Whether to verify the TLS certificate of O(buckets.endpoint_url).
        - Named apart from the Kubernetes fragment's C(validate_certs) so that a module can take both sets of options.
        type: bool
        default: true
      name:
        description: Name of the bucket.
        type: str
        required: true
      versioning:
        description:
        - Whether versioning is enabled. V(false) suspends it on a bucket where it was enabled.
        - Not managed when not set (object lock enables it at creation).
        type: bool
      object_lock:
        description:
        - Object lock. It can only be turned on when the bucket is created, and never turned off.
        - Not managed when not set.
        type: dict
        suboptions:
          enabled:
            description: Whether object lock is enabled.
            type: bool
            default: true
          mode:
            description: Mode of the default retention applied to new objects; none when not set.
            type: str
            choices:
            - GOVERNANCE
            - COMPLIANCE
          days:
            description:
              - Default retention in days (with O(buckets.object_lock.mode)).
              - Exclusive with O(buckets.object_lock.years).
            type: int
          years:
            description:
              - Default retention in years (with O(buckets.object_lock.mode)).
              - Exclusive with O(buckets.object_lock.days).
            type: int
      lifecycle_rules:
        description:
        - The complete list of lifecycle rules, each in S3's own shape (C(ID), C(Status), C(Filter), C(Expiration),
          C(NoncurrentVersionExpiration), C(AbortIncompleteMultipartUpload)...).
        - Every rule needs a unique C(ID). An empty list removes all rules; not managed when not set.
        type: list
        elements: dict
      tags:
        description:
        - The complete set of bucket tags. An empty mapping removes all tags; not managed when not set.
        type: dict
      path_style:
        description: Address buckets in the URL path (V(true)) rather than as a host name prefix.
        type: bool
        default: true

requirements:
  - PyYAML (to read the kubeconfig)
  - psycopg >= 3.1 (with O(database))
  - boto3 >= 1.34 (with O(buckets))
seealso:
  - module: governed.odoo.k8s_apply_set
  - module: governed.odoo.pg_database
  - module: governed.odoo.s3_bucket
"""

EXAMPLES = r"""
- name: Compare one instance's Kubernetes objects with the cluster
  governed.odoo.drift:
    instance: civil-dev
    namespace: odoo-civil-dev
    objects_json: "{{ [foundation_objects, odoo_objects] }}"
  register: drift

- name: Fail when anything drifted
  ansible.builtin.assert:
    that: not drift.drifted
    fail_msg: "{{ drift.drift | map(attribute='field') | list }}"
"""

RETURN = r"""
instance:
  description: The instance compared.
  returned: always
  type: str
  sample: civil-dev
drifted:
  description: Whether any field differs.
  returned: always
  type: bool
drift:
  description:
    - One entry per changed field. C(layer) is V(kubernetes), V(database) or V(bucket); C(object) names the object;
      C(field) is the path of the field (V((object)) or V((bucket)) for a whole object missing or extra);
      C(declared) and C(live) are the two values (V((absent)) for a side without it); C(note) explains, when needed.
    - Secret values appear only as V(hmac-sha256:...) hashes.
  returned: always
  type: list
  elements: dict
  sample:
    - {"layer": "kubernetes", "object": "Deployment odoo-civil-dev/odoo-web", "field": "spec.replicas",
       "declared": 2, "live": 5}
    - {"layer": "database", "object": "database civil_dev on 127.0.0.1:5432", "field": "database.acl.civil_dev_app",
       "declared": "CONNECT, TEMPORARY", "live": "TEMPORARY"}
counts:
  description: Findings per layer.
  returned: always
  type: dict
  sample: {"kubernetes": 2, "database": 1, "bucket": 0}
checked:
  description: What was compared (number of Kubernetes objects, the database, the buckets).
  returned: always
  type: dict
errors:
  description: Layers that could not be read, with the reason (C(layer), C(message)).
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.drift import task


def main():
    module = AnsibleModule(argument_spec=task.argument_spec(), supports_check_mode=True)
    result, secrets = task.run(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
