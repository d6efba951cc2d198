"""A console with one user whose password is hashed with argon2's real parameters
(64 MiB per check), for the memory test of parallel guessing (test_abuse_memory.py).

    python tests/web/guess_server.py FOLDER PORT PARALLEL_HASHES
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from tests.web.conftest import make_runtime
from tether.config import LoginLimits, WebSettings, WebUserSettings
from tether.web import create_app, hash_password


def main() -> None:
    folder, port, slots = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    runtime = make_runtime(f"sqlite:///{folder / 'tether.db'}", folder)
    settings = WebSettings(
        users={
            "fiona": WebUserSettings(
                password_hash=hash_password("the-real-password"), roles=["approver"]
            )
        },
        # Throttling aside (it would refuse most guesses before hashing): this measures
        # the bound on hashes at once.
        login=LoginLimits(
            parallel_hashes=slots, backoff_after=10_000, lock_after=10_000, hash_wait_seconds=120
        ),
    )
    app = create_app(runtime, settings, session_secret="s" * 48)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
