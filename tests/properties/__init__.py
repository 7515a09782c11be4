"""Property tests over generated clusters; one Hypothesis profile for all of them.

``PROPERTIES`` is applied per test (not loaded globally), so other suites keep their own
settings. ``ONET_PROPERTY_EXAMPLES`` raises the example count for a deeper local run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "overlaynet-properties",
    max_examples=int(os.environ.get("ONET_PROPERTY_EXAMPLES", "30")),
    deadline=None,  # a whole cluster per example: timing varies with the machine
    suppress_health_check=[HealthCheck.too_slow],
)
PROPERTIES = settings.get_profile("overlaynet-properties")
