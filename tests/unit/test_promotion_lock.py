"""The promotion lock (module_utils/promotion/lock.py): what to write for a Lease as read, and the conditional writes
against an API that answers like the real one (409 for a create that lost, 409 for a stale resourceVersion)."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from ansible_collections.governed.odoo.plugins.module_utils.apply import KubeAPIError
from ansible_collections.governed.odoo.plugins.module_utils.promotion import lock
from ansible_collections.governed.odoo.plugins.module_utils.promotion.errors import LockHeld

NOW = dt.datetime(2026, 12, 6, 11, 0, 0, tzinfo=dt.UTC)
NS = "odoo-civil-dev"


def lease(holder, renewed=NOW, seconds=60, rv="7", operation="promote B"):
    return {
        "metadata": {"name": lock.DEFAULT_NAME, "namespace": NS, "resourceVersion": rv,
                     "annotations": {lock.OPERATION_ANNOTATION: operation}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds, "renewTime": lock.format_time(renewed),
                 "acquireTime": lock.format_time(renewed), "leaseTransitions": 2},
    }


class FakeAPI:
    """Leases by name with resourceVersions; conditional create and replace as the API server does them."""

    def __init__(self, existing=None, before_write=None):
        self.leases = {}
        self.rv = 100
        self.writes = []
        self.before_write = before_write
        if existing:
            self.leases[existing["metadata"]["name"]] = existing

    def get(self, path):
        name = path.rsplit("/", 1)[1]
        if name not in self.leases:
            raise KubeAPIError("not found", status=404, reason="NotFound")
        return copy.deepcopy(self.leases[name])

    def request(self, method, path, body=None):
        if self.before_write:
            hook, self.before_write = self.before_write, None
            hook(self)
        self.writes.append(method)
        if method == "POST":
            name = body["metadata"]["name"]
            if name in self.leases:
                raise KubeAPIError("already exists", status=409, reason="AlreadyExists")
            return self._store(body)
        name = path.rsplit("/", 1)[1]
        live = self.leases.get(name)
        if method == "PUT":
            if live is None or live["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
                raise KubeAPIError("the object has been modified", status=409, reason="Conflict")
            return self._store(body)
        if method == "DELETE":
            if live is None:
                raise KubeAPIError("not found", status=404, reason="NotFound")
            if live["metadata"]["resourceVersion"] != body["preconditions"]["resourceVersion"]:
                raise KubeAPIError("precondition failed", status=409, reason="Conflict")
            del self.leases[name]
            return None
        raise AssertionError(method)

    def _store(self, body):
        self.rv += 1
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.leases[obj["metadata"]["name"]] = obj
        return copy.deepcopy(obj)


def clock():
    return NOW


def test_decide_each_case():
    assert lock.decide(None, "me", NOW)[0] == "create"
    assert lock.decide(lease("me"), "me", NOW)[0] == "renew"
    assert lock.decide(lease("other"), "me", NOW)[0] == "refuse"
    assert lock.decide(lease("other", renewed=NOW - dt.timedelta(seconds=61)), "me", NOW)[0] == "take_over"
    assert lock.decide(lease(None), "me", NOW)[0] == "take_over"


def test_an_absent_lock_is_created_with_holder_and_expiry():
    api = FakeAPI()
    out = lock.acquire(api, NS, "me", 120, "promote B", clock=clock)
    assert out["acquired"] and out["action"] == "create" and api.writes == ["POST"]
    spec = api.leases[lock.DEFAULT_NAME]["spec"]
    assert spec["holderIdentity"] == "me" and spec["leaseDurationSeconds"] == 120
    assert out["lock"]["expires"] == lock.format_time(NOW + dt.timedelta(seconds=120))


def test_a_held_lock_is_refused_naming_the_holder_and_nothing_is_written():
    api = FakeAPI(lease("alice@ctl/run-1", seconds=600))
    with pytest.raises(LockHeld) as err:
        lock.acquire(api, NS, "bob@ctl/run-2", 120, clock=clock)
    assert "alice@ctl/run-1" in err.value.msg and "promote B" in err.value.msg
    assert err.value.details["holder"] == "alice@ctl/run-1"
    assert api.writes == []


def test_an_expired_lock_is_taken_over_with_the_resource_version_read():
    api = FakeAPI(lease("killed-run", renewed=NOW - dt.timedelta(minutes=5), seconds=60))
    out = lock.acquire(api, NS, "me", 120, clock=clock)
    assert out["action"] == "take_over" and out["previous"]["holder"] == "killed-run"
    assert api.leases[lock.DEFAULT_NAME]["spec"]["holderIdentity"] == "me"
    assert api.leases[lock.DEFAULT_NAME]["spec"]["leaseTransitions"] == 3


def test_a_create_that_loses_the_race_is_refused_naming_the_winner():
    def winner_first(api):
        api._store(lease("winner", seconds=600))

    api = FakeAPI(before_write=winner_first)
    with pytest.raises(LockHeld) as err:
        lock.acquire(api, NS, "loser", 120, clock=clock)
    assert err.value.details["holder"] == "winner"


def test_a_take_over_that_loses_the_race_is_refused_naming_the_winner():
    def winner_first(api):
        api._store(lease("winner", seconds=600))

    api = FakeAPI(lease("killed", renewed=NOW - dt.timedelta(hours=1)), before_write=winner_first)
    with pytest.raises(LockHeld) as err:
        lock.acquire(api, NS, "loser", 120, clock=clock)
    assert err.value.details["holder"] == "winner"
    assert api.leases[lock.DEFAULT_NAME]["spec"]["holderIdentity"] == "winner"


def test_check_mode_writes_nothing():
    api = FakeAPI()
    out = lock.acquire(api, NS, "me", 120, check_mode=True, clock=clock)
    assert out["acquired"] and api.writes == [] and not api.leases


def test_release_deletes_only_the_holders_own_lock():
    api = FakeAPI(lease("me"))
    assert lock.release(api, NS, "me")["released"] is True
    assert not api.leases
    api = FakeAPI(lease("successor"))
    out = lock.release(api, NS, "me")
    assert out["released"] is False and out["warnings"] and api.writes == []
    expected = {"changed": False, "released": False, "previous": None, "warnings": []}
    assert lock.release(FakeAPI(), NS, "me") == expected
