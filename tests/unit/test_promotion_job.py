"""k8s_job's task (module_utils/promotion/task.py) over restore/k8sjob.py: the pods' last log lines come back
(the health probe's answers are recorded from them), a failed Job fails the task with them, check mode runs nothing."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.promotion import task
from ansible_collections.governed.odoo.plugins.module_utils.restore import k8sjob


class Transport:
    def __init__(self, logs):
        self.logs = logs
        self.calls = []

    def request(self, method, url, body, headers):
        self.calls.append((method, url))
        return 200, self.logs.encode()


class Client:
    """Jobs that end at once with ``outcome``; one pod whose log is ``logs``."""

    server = "https://api.lab"

    def __init__(self, outcome="Complete", logs="10.0.0.5:8069: HTTP/1.0 200 OK {\"status\": \"pass\"}\n"):
        self.headers = {"Accept": "application/json"}
        self.outcome = outcome
        self._transport = Transport(logs)
        self.requests = []

    def request(self, method, path, body=None, query=None):
        self.requests.append((method, path))
        return {}

    def get(self, path, **query):
        if path.endswith("/pods"):
            return {"items": [{"metadata": {"name": "odoo-health-1-abcde"}, "status": {"phase": "Succeeded"}}]}
        return {"status": {"conditions": [{"type": self.outcome, "status": "True"}]}}


JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "odoo-health-1", "namespace": "odoo-civil-dev"}}


def test_the_pods_last_log_lines_come_back():
    client = Client()
    out = k8sjob.run_job(client, JOB, poll=0, sleep=lambda s: None)
    assert out["outcome"] == "succeeded"
    assert out["pods"][0]["log"].startswith("10.0.0.5:8069: HTTP/1.0 200 OK")
    assert client._transport.calls == [("GET", "/api/v1/namespaces/odoo-civil-dev/pods/odoo-health-1-abcde/log"
                                               "?tailLines=50")]
    assert ("DELETE", "/apis/batch/v1/namespaces/odoo-civil-dev/jobs/odoo-health-1") in client.requests


def test_a_failed_job_fails_the_task_with_its_logs(monkeypatch):
    client = Client(outcome="Failed", logs="odoo-standin[D]: migration failed\n")
    monkeypatch.setattr(task, "_client", lambda params: (client, set()))
    result, _hidden = task.run_job_task({"manifest": JOB, "timeout": 5, "keep": False})
    assert result["failed"] and result["outcome"] == "failed"
    assert "odoo-health-1 failed" in result["msg"] and "migration failed" in result["msg"]


def test_check_mode_runs_nothing(monkeypatch):
    def no_client(params):
        raise AssertionError("no client")

    monkeypatch.setattr(task, "_client", no_client)
    result, _hidden = task.run_job_task({"manifest": JOB, "timeout": 5, "keep": False}, check_mode=True)
    assert result["changed"] and result["outcome"] == "not run (check mode)"


def test_a_manifest_that_is_not_a_job_is_refused():
    manifest = {"kind": "Pod", "metadata": {"name": "x"}}
    result, _hidden = task.run_job_task({"manifest": manifest, "timeout": 5, "keep": False})
    assert result["failed"] and "must be a Job" in result["msg"]
