"""k8s_job's task (module_utils/promotion/task.py) over restore/k8sjob.py: the pods' last log lines come back
(the health probe's answers are recorded from them), a failed Job fails the task with them, check mode runs nothing.
k8s_workload's task: a read, a scale that waits on a watch, check mode; the wait on a watch (apply/client.py)."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.apply import KubeAPIError
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
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


# --------------------------------------------------------------------------- k8s_workload
class WorkloadClient:
    """A Deployment ``odoo-cron`` with ``replicas`` whose status reaches the new size after ``lag`` reads."""

    def __init__(self, replicas=1, lag=1, exists=True):
        self.replicas, self.lag, self.exists = replicas, lag, exists
        self.requests, self.watched = [], []
        self.reads = 0

    def _deployment(self):
        done = self.reads > self.lag
        count = self.replicas if done else self.replicas + 1
        meta = {"name": "odoo-cron", "generation": 2, "resourceVersion": str(self.reads)}
        return {"kind": "Deployment", "metadata": meta,
                "spec": {"replicas": self.replicas},
                "status": {"observedGeneration": 2, "replicas": count, "updatedReplicas": count,
                           "availableReplicas": count}}

    def get(self, path, **query):
        self.requests.append(("GET", path, query))
        if path.endswith("/pods"):
            return {"items": [{"metadata": {"name": "odoo-web-1"}}]}
        if not self.exists:
            raise KubeAPIError("not found", status=404, reason="NotFound")
        self.reads += 1
        return self._deployment()

    def request(self, method, path, query=None, body=None, content_type=None):
        self.requests.append((method, path, body))
        self.replicas = body["spec"]["replicas"]
        self.reads = 0
        return {}

    def watch(self, collection_path, name, resource_version, timeout):
        self.watched.append((collection_path, name, resource_version))
        yield "MODIFIED", {}


def workload(client, monkeypatch, check_mode=False, **params):
    monkeypatch.setattr(task, "_client", lambda p: (client, set()))
    base = {"namespace": "odoo-civil-dev", "kind": "Deployment", "name": "odoo-cron", "replicas": None, "wait": True,
            "wait_timeout": 30, "pod_selectors": None}
    return task.run_workload({**base, **params}, check_mode=check_mode, sleep=lambda s: None)[0]


def test_scaling_to_zero_patches_the_scale_subresource_and_watches_until_no_replica_is_left(monkeypatch):
    client = WorkloadClient(replicas=1, lag=2)
    result = workload(client, monkeypatch, replicas=0)
    assert result["changed"] and not result.get("failed"), result
    assert ("PATCH", "/apis/apps/v1/namespaces/odoo-civil-dev/deployments/odoo-cron/scale",
            {"spec": {"replicas": 0}}) in client.requests
    assert result["object"]["status"]["replicas"] == 0
    assert client.watched and client.watched[0][:2] == ("/apis/apps/v1/namespaces/odoo-civil-dev/deployments",
                                                        "odoo-cron")


def test_check_mode_reports_the_change_and_scales_nothing(monkeypatch):
    client = WorkloadClient(replicas=1)
    result = workload(client, monkeypatch, check_mode=True, replicas=0)
    assert result["changed"] and not any(r[0] == "PATCH" for r in client.requests)


def test_a_read_returns_the_workload_and_the_pods_of_the_selectors(monkeypatch):
    client = WorkloadClient(replicas=1, lag=0)
    selectors = ["app.kubernetes.io/name=odoo", "app.kubernetes.io/component=web"]
    result = workload(client, monkeypatch, pod_selectors=selectors)
    assert not result["changed"] and result["object"]["metadata"]["name"] == "odoo-cron"
    assert [p["metadata"]["name"] for p in result["pods"]] == ["odoo-web-1"]
    assert ("GET", "/api/v1/namespaces/odoo-civil-dev/pods",
            {"labelSelector": "app.kubernetes.io/name=odoo,app.kubernetes.io/component=web"}) in client.requests


def test_a_missing_workload_reads_as_none_and_cannot_be_scaled(monkeypatch):
    assert workload(WorkloadClient(exists=False), monkeypatch)["object"] is None
    result = workload(WorkloadClient(exists=False), monkeypatch, replicas=0)
    assert result["failed"] and "does not exist" in result["msg"]


# --------------------------------------------------------------------------- waiting on a watch
def test_a_wait_ends_at_the_first_watch_event_and_pauses_without_a_watch():
    pauses = []
    client = WorkloadClient()
    kclient.await_change(client, "/apis/batch/v1/namespaces/n/jobs", "j", "7", timeout=60, sleep=pauses.append)
    assert client.watched == [("/apis/batch/v1/namespaces/n/jobs", "j", "7")] and pauses == []
    kclient.await_change(Client(), "/apis/batch/v1/namespaces/n/jobs", "j", "7", timeout=60, poll=2.0,
                         sleep=pauses.append)
    assert pauses == [2.0]


def test_a_refused_watch_falls_back_to_a_pause():
    class Refusing(WorkloadClient):
        def watch(self, *args):
            # a generator, as the client's: it raises when iterated
            if args:
                raise KubeAPIError("watch refused", status=403, reason="Forbidden")
            yield from ()

    pauses = []
    kclient.await_change(Refusing(), "/p", "j", "7", timeout=60, poll=1.5, sleep=pauses.append)
    assert len(pauses) == 1 and 0 < pauses[0] <= 1.5
