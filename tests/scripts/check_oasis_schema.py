"""Compare tests/oasis_schema.py with the schema files of an installed or unpacked camel-oasis.

Usage::

    pip download --no-deps camel-oasis==0.2.5 -d /tmp/oasis && \\
        python -m zipfile -e /tmp/oasis/camel_oasis-*.whl /tmp/oasis/x
    python tests/scripts/check_oasis_schema.py /tmp/oasis/x/oasis/social_platform/schema

Exit code 0 when every table the adapter and its tests use has the same columns (name, type,
NOT NULL, default, primary key: ``PRAGMA table_info``) in both; 1 otherwise, naming them.
"""

from __future__ import annotations

import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from oasis_schema import SCHEMA  # noqa: E402

TABLES = ("user", "post", "follow", "like", "comment", "dislike", "trace")


def main(schema_dir: str) -> int:
    ours, theirs = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    ours.executescript(SCHEMA)
    bad = []
    for t in TABLES:
        with open(os.path.join(schema_dir, f"{t}.sql"), encoding="utf-8") as f:
            theirs.executescript(f.read())
        a = ours.execute(f"PRAGMA table_info('{t}')").fetchall()
        b = theirs.execute(f"PRAGMA table_info('{t}')").fetchall()
        print(f"{t}: {'same' if a == b else 'DIFFERENT'}")
        if a != b:
            bad.append(t)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
