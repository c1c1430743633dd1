"""``python -m mnpo.train JOB.json``: one training process; what ``torchrun`` starts N times.

``JOB.json`` holds the keyword arguments of ``mnpo.steps.train_model`` (written by
``mnpo.train.distributed.launch``). Under torchrun the process joins the process group first
and leaves it at the end. Rank 0 logs at INFO, the other ranks warnings only; every line names its
rank.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mnpo import steps
from mnpo.train.distributed import join, leave, world_from_env


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job file given as the only argument; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m mnpo.train JOB.json\n")
        return 2
    world = world_from_env()
    logging.basicConfig(
        level=logging.INFO if world.is_main else logging.WARNING,
        format=f"rank {world.rank} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    job = json.loads(Path(args[0]).read_text())
    if world.distributed:
        join(world)
    try:
        steps.train_model(**job)
    finally:
        leave()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
