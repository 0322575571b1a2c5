"""Data layer: Bluesky Jetstream -> panels, live capture, the synthetic world, topic tables.

Public functions (see ``docs/data.md``):

- :func:`build_panels` -- Jetstream JSONL files -> one :class:`~jaxattr.Panel` per topic.
- :func:`from_mesa` -- a Mesa model's DataCollector (agent reporters) -> a Panel.
- :func:`from_oasis` -- an OASIS simulation's SQLite database -> a Panel (or one per topic).
- :func:`capture` -- record the Jetstream firehose to one JSONL file per UTC day.
- :func:`synthetic_world` -- a seeded Bluesky-like world (panels, and JSONL at small scale).
- :func:`load_topics`, :func:`write_topics`, :class:`Topic` -- topic tables.
"""

from ._capture import DEFAULT_URL, capture
from ._features import FEATURES, log1p_counts
from ._jetstream import (
    DEFAULT_BOT_PATTERN,
    BuildResult,
    build_panels,
    jsonl_files,
    read_profiles,
)
from ._mesa import from_mesa
from ._oasis import from_oasis
from ._synthetic import DEFAULT_TOPICS, World, synthetic_world
from ._topics import Topic, TopicMatcher, load_topics, write_topics

__all__ = [
    "DEFAULT_BOT_PATTERN",
    "DEFAULT_TOPICS",
    "DEFAULT_URL",
    "FEATURES",
    "BuildResult",
    "Topic",
    "TopicMatcher",
    "World",
    "build_panels",
    "jsonl_files",
    "capture",
    "from_mesa",
    "from_oasis",
    "load_topics",
    "log1p_counts",
    "read_profiles",
    "synthetic_world",
    "write_topics",
]
