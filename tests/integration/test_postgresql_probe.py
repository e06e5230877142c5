"""governed.odoo.postgresql_probe against the lab's real PostgreSQL: rows for a good login, a clear
failure (without the password) for a bad one, and never a write."""

from __future__ import annotations

import json
import uuid

import pytest
from _playrun import CONNECTION, lab_postgres, run_play

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def pg():
    return lab_postgres()


def probe(tmp_path, logins, query, named_args=None):
    out = tmp_path / f"probe-{uuid.uuid4().hex[:6]}.json"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.set_fact": {
                        "result": "{{ query('governed.odoo.postgresql_probe', *logins, query=q, named_args=args) }}"
                    },
                    "vars": {"logins": logins, "q": query, "args": named_args or {}},
                    "no_log": True,
                },
                {"ansible.builtin.copy": {"dest": str(out), "content": "{{ result | to_json }}", "mode": "0600"}},
            ],
        }
    ]
    res = run_play(tmp_path, play)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(out.read_text()), res.stdout + res.stderr


def test_rows_for_a_good_login_and_a_clear_failure_for_a_bad_one(pg, tmp_path):
    good = {
        "host": pg["host"],
        "port": pg["port"],
        "user": pg["user"],
        "password": pg["password"],
        "dbname": "postgres",
        "ssl_mode": "disable",
    }
    wrong_password = "not-the-password-" + uuid.uuid4().hex
    bad = dict(good, password=wrong_password)
    missing_db = dict(good, dbname="no_such_db_" + uuid.uuid4().hex[:8])
    rows, output = probe(
        tmp_path,
        [good, bad, missing_db],
        "SELECT current_user AS me, %(word)s AS word, current_setting('transaction_read_only') AS ro",
        {"word": "hello"},
    )
    assert rows[0]["query_result"] == [{"me": pg["user"], "word": "hello", "ro": "on"}]
    assert rows[1]["failed"] is True and "password authentication failed" in rows[1]["msg"]
    assert rows[2]["failed"] is True and missing_db["dbname"] in rows[2]["msg"]
    assert wrong_password not in json.dumps(rows) and wrong_password not in output
    assert pg["password"] not in output


def test_the_probe_cannot_write(pg, tmp_path):
    good = {
        "host": pg["host"],
        "port": pg["port"],
        "user": pg["user"],
        "password": pg["password"],
        "dbname": "postgres",
        "ssl_mode": "disable",
    }
    table = "probe_write_" + uuid.uuid4().hex[:8]
    rows, _output = probe(tmp_path, [good], f"CREATE TABLE {table} (x int)")
    assert rows[0]["failed"] is True and "read-only transaction" in rows[0]["msg"]


def test_k8s_crds_lookup_answers_from_the_real_api_server(tmp_path):
    """The monitoring role's CRD check: true for the lab's Prometheus Operator CRDs, false for a missing one."""
    try:
        conf = json.loads(CONNECTION.read_text())
        kubeconfig = conf["controlplane"]["kubeconfig"]
    except (OSError, ValueError, KeyError):
        pytest.skip("lab control plane not up")
    out = tmp_path / "crds.json"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.copy": {
                        "dest": str(out),
                        "mode": "0600",
                        "content": "{{ query('governed.odoo.k8s_crds', 'servicemonitors.monitoring.coreos.com',"
                        " 'nothings.example.org', kubeconfig=kc) | to_json }}",
                    },
                    "vars": {"kc": kubeconfig},
                }
            ],
        }
    ]
    res = run_play(tmp_path, play)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert json.loads(out.read_text()) == [True, False]
    # an unreachable cluster is an error naming the CRD, not a silent "no CRDs"
    bad = dict(play[0])
    bad["tasks"] = [dict(play[0]["tasks"][0], vars={"kc": str(tmp_path / "missing-kubeconfig")})]
    res = run_play(tmp_path, [bad])
    assert res.returncode != 0 and "k8s_crds" in res.stdout + res.stderr


def test_k8s_crds_lookup_asks_once_per_process_and_cluster(monkeypatch):
    """A worker that renders several instances of one cluster looks each CRD up once; errors are not kept."""
    try:
        kubeconfig = json.loads(CONNECTION.read_text())["controlplane"]["kubeconfig"]
    except (OSError, ValueError, KeyError):
        pytest.skip("lab control plane not up")
    from ansible_collections.governed.odoo.plugins.lookup import k8s_crds as module

    monkeypatch.setattr(module, "_ANSWERS", {})
    made = []
    real = module.kclient.client_from_options

    def counting(**options):
        made.append(options)
        return real(**options)

    monkeypatch.setattr(module.kclient, "client_from_options", counting)
    names = ["servicemonitors.monitoring.coreos.com", "nothings.example.org"]
    options = {"kubeconfig": kubeconfig}
    assert module.crds_present(options, names) == [True, False]
    assert module.crds_present(options, names) == [True, False]
    assert len(made) == 1
    # another cluster (here: an unreachable one) is asked, and its error is raised every time
    for _attempt in range(2):
        with pytest.raises(Exception, match="cannot"):
            module.crds_present({"kubeconfig": kubeconfig + ".missing"}, names)
    assert len(made) == 3
