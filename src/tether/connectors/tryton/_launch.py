"""Run trytond with tether's offline patch: ``python -m tether.connectors.tryton._launch``.

Takes trytond's own arguments (``-c CONFIG -d DATABASE``).
"""

from __future__ import annotations

import sys

from tether.connectors.tryton._patch import disable_email_deliverability_check


def _main() -> int:
    disable_email_deliverability_check()
    from trytond.cli import main

    sys.argv[0] = "trytond"
    main()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
