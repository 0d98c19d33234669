"""How long one auto-update decision takes on a large tag list: the tick runs ``choose_tag``
once per due autoUpdate, and popular images list thousands of tags.

Prints figures; asserts nothing (machines are shared and noisy: read the medians).
Usage: .venv/bin/python benchmarks/tag_policies.py [tags] [runs]
"""

from __future__ import annotations

import statistics
import sys
import time

import bench_env  # noqa: F401, I001 - puts the project on sys.path first

from chalicelib.autoupdate.patterns import compile_pattern  # noqa: E402
from chalicelib.autoupdate.policies import choose_tag, parse_policy  # noqa: E402

VARIANTS = ("", "-alpine", "-alpine-slim", "-perl", "-bookworm", "-rc1")
CASES = [
    ("semver", ""),  # every tag is parsed, the long prefixed ones included
    ("semver:>=1.24.x, <1.25.x", r"^\d+\.\d+\.\d+$"),
    ("semver:~1.25", "-alpine$"),
    ("timestamp", r"^build-\d{10}$"),
    ("desc", ""),
]


def tag_list(count: int) -> list[str]:
    """nginx-like release tags with variants, plus build tags and a long prefixed worst case."""
    tags: list[str] = []
    version = 0
    while len(tags) < count:
        major, minor, patch = 1, 20 + version // 40, version % 40
        tags += [f"{major}.{minor}.{patch}{variant}" for variant in VARIANTS]
        tags += [f"build-{1_700_000_000 + version}", f"{'x-' * 60}{major}.{minor}.{patch}"]
        version += 1
    return tags[:count]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    tags = tag_list(count)
    print(f"{count} tags, median of {runs} runs")
    for policy_text, pattern_text in CASES:
        policy, pattern = parse_policy(policy_text), compile_pattern(pattern_text)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            chosen = choose_tag(tags, policy, pattern)
            times.append((time.perf_counter() - start) * 1000)
        print(
            f"  {policy_text:<28} pattern {pattern_text or '(none)':<18}"
            f" {statistics.median(times):7.1f} ms  -> {chosen}"
        )


if __name__ == "__main__":
    main()
