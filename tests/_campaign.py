"""The seeded synthetic campaign generator of ``examples/campaign.py`` (one generator for the
example and the tests)."""

from __future__ import annotations

import importlib.util
import sys

from conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "_example_campaign", REPO / "examples" / "campaign.py"
)
assert _spec is not None
assert _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules["_example_campaign"] = _module
_spec.loader.exec_module(_module)

Campaign = _module.Campaign
TierSpec = _module.TierSpec
TIERS = _module.TIERS
make = _module.make
true_programme = _module.true_programme
