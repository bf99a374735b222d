"""Prints the restore script the restore runbook copies into the Redis master's pod: the very text
the restore drill in the tests runs (`components.redis_backup.RESTORE_SCRIPT`), never a copy of it.

    venv/bin/python -m tools.redis_restore_script > restore.sh
"""

from __future__ import annotations

import sys

from components.redis_backup import RESTORE_SCRIPT


def main() -> int:
    sys.stdout.write(RESTORE_SCRIPT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
