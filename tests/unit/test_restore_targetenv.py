"""Unit tests of plugins/module_utils/restore/targetenv.py: the namespace's labels against the caller's claim."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.restore import targetenv  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import RefusedError  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore.flow import is_production  # noqa: E402

PROD = {"governed.odoo/environment": "prod", "governed.odoo/tier": "production"}


@pytest.mark.parametrize(
    ("labels", "production"),
    [
        (PROD, True),
        ({"governed.odoo/tier": "production"}, True),
        ({"governed.odoo/environment": "production", "governed.odoo/tier": "preproduction"}, True),
        ({"governed.odoo/environment": "prd-eu"}, True),
        ({"governed.odoo/environment": "staging", "governed.odoo/tier": "preproduction"}, False),
        ({"governed.odoo/environment": "product-demo", "governed.odoo/tier": "nonproduction"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_which_labels_say_production(labels, production):
    assert targetenv.labelled_production(labels, is_production)[0] is production


@pytest.mark.parametrize("claimed", [False, None])
def test_a_production_namespace_refuses_a_non_production_claim(claimed):
    with pytest.raises(
        RefusedError, match=re.escape("odoo-acme-prod is labelled production (governed.odoo/tier=production)")
    ) as err:
        targetenv.decide("odoo-acme-prod", PROD, claimed, is_production)
    assert err.value.details["target_namespace"] == {
        "namespace": "odoo-acme-prod",
        "environment": "prod",
        "tier": "production",
        "production": True,
    }


def test_a_consistent_or_stricter_claim_passes():
    assert targetenv.decide("odoo-acme-prod", PROD, True, is_production)["production"] is True
    staging = {"governed.odoo/environment": "staging", "governed.odoo/tier": "preproduction"}
    assert targetenv.decide("odoo-acme-staging", staging, False, is_production)["production"] is False
    assert targetenv.decide("odoo-acme-staging", staging, True, is_production)["production"] is False  # stricter


@pytest.mark.parametrize("name", ["Odoo-Prod", "a/b", "", None, "x" * 64, "-lead"])
def test_invalid_namespace_names_are_refused_before_any_request(name):
    with pytest.raises(RefusedError, match="not a valid namespace name"):
        targetenv.read_labels(None, name)


def test_no_kubernetes_connection_is_refused():
    with pytest.raises(RefusedError, match="needs a Kubernetes connection"):
        targetenv.check(None, "odoo-acme-prod", False, is_production)
