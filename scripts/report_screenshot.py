"""Screenshot of a report in headless Chromium, for docs/figures/report.png (shown in the README).

    .venv/bin/python scripts/report_screenshot.py phasefit-demo/report/index.html docs/figures/report.png

Uses the same DevTools-protocol helper as the report's browser test, and fails if the page logs an
error or an image does not render.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _browser import check_page  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    page, out = Path(argv[0]), Path(argv[1])
    check = check_page(page, screenshot=out, width=1280, height=860)
    broken = [i["src"] for i in check.images if not i["complete"] or i["width"] == 0]
    if check.errors or broken:
        print(f"{page}: errors {check.errors}, broken images {broken}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({len(check.images)} images rendered, no console errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
