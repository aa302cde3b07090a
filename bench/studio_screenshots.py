"""Screenshots of the studio's pages for docs/studio.md, taken by its browser tests.

Runs tests/studio/browser (headless Chromium through Playwright, against ``engine studio``
in a child process over a copy of flows/) with ``ENGINE_STUDIO_SCREENSHOTS`` set, so each
page is photographed at the step of the journey where it shows what it is for: the sign-in
page, the flows list, a flow's page with its diagram and a problem (also at tablet width),
the scenarios' results, the versions, a diff, the calls, a call and the overview. The
pictures are what the tests checked, at 1280x800 (and 768x1024 for the tablet one).

    python bench/studio_screenshots.py [--out docs/studio]

Prints each file and its size, and fails if a test failed or a picture is over 300 KB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 300 * 1024
EXPECTED = [
    "sign-in",
    "flows",
    "flow-problem",
    "flow-tablet",
    "scenarios",
    "versions",
    "diff",
    "calls",
    "call",
    "overview",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "studio"), type=Path)
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    environ = os.environ | {"ENGINE_STUDIO_SCREENSHOTS": str(out)}
    path = os.environ.get("PYTHONPATH", "")
    environ["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/studio/browser"],
        cwd=REPO,
        env=environ,
        check=False,
    )
    failed = tests.returncode != 0
    for name in EXPECTED:
        picture = out / f"{name}.png"
        if not picture.is_file():
            print(f"{name}.png: missing (its test did not get that far)")
            failed = True
            continue
        size = picture.stat().st_size
        over = size > MAX_BYTES
        failed |= over
        shown = picture.relative_to(REPO) if picture.is_relative_to(REPO) else picture
        print(f"{shown}: {size / 1024:.0f} KB{'  (over 300 KB)' if over else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
