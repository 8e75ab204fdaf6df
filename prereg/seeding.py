"""One seed, many independent random streams, all re-derivable from the plan.

Every random draw in a campaign (allocation, arrival times, each arm's simulated outcomes) comes
from a stream named here. A stream's generator depends on the plan's seed, the plan's canonical
hash and the stream's name only, so anyone holding the frozen plan re-derives the same allocation
and the same simulated outcomes, and adding a stream never shifts another.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["derive_rng", "derive_seed_sequence"]


def derive_seed_sequence(seed: int, plan_hash: str, stream: str) -> np.random.SeedSequence:
    """The seed sequence of a named stream (e.g. ``"allocation"``, ``"arm:qwen"``)."""
    digest = hashlib.sha256(f"{plan_hash}\x00{stream}".encode()).digest()
    # Eight 32-bit words of the digest become the spawn key: streams are independent by name.
    key = tuple(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4))
    return np.random.SeedSequence(entropy=seed, spawn_key=key)


def derive_rng(seed: int, plan_hash: str, stream: str) -> np.random.Generator:
    """A PCG64 generator for a named stream."""
    return np.random.Generator(np.random.PCG64(derive_seed_sequence(seed, plan_hash, stream)))
