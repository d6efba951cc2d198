"""Portable evidence bundles: a run's, an agent's or a period's audit trail in one file,
verifiable offline, without the database.

```python
from tether.evidence import export_bundle, verify_bundle

export_bundle(audit, "run-42.evidence.json", run="run-42")
report = verify_bundle("run-42.evidence.json", keys="trusted-keys/")
report.ok, report.first_problem
```

See ``docs/audit.md#evidence-bundles``.
"""

from tether.evidence._bundle import BUNDLE_FORMAT, Scope, export_bundle
from tether.evidence._check import BundleProblem, BundleReport, verify_bundle

__all__ = [
    "BUNDLE_FORMAT",
    "BundleProblem",
    "BundleReport",
    "Scope",
    "export_bundle",
    "verify_bundle",
]
