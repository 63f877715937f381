"""The first printed page of an HTML report as a PNG (docs/report-first-page.png), in headless Chromium.

Print media, an A4 sheet at 150 dpi (794 × 1123 CSS pixels × 1.5625), the page's @page margins as padding, and
what printing would push to the next page hidden (the first block that does not fit whole, everything after
it, and every scope's tables, which start a page of their own). Needs the test extras (Playwright) and a
Chromium (`/usr/bin/chromium` by default, or HUB_CHROMIUM).

Usage: .venv/bin/hub demo
       .venv/bin/python tools/report_screenshot.py demo-out/rapport.html docs/report-first-page.png
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

A4 = {"width": 794, "height": 1123}
MARGINS = "14mm 13mm 15mm"  # the report's @page margins (hub/report/templates/report.html.j2)
HIDE_PAGE_TWO = """() => {
    const bottom = 1123 - 15 * 96 / 25.4;
    let over = false;
    for (const el of document.querySelectorAll('main > header, main > section, main > section > *')) {
        if (el.matches('section.perimetre')) over = true;
        if (!over && el.parentElement.matches('section') && el.getBoundingClientRect().bottom > bottom) over = true;
        if (over) el.style.visibility = 'hidden';
    }
}"""


def main(source: Path, target: Path) -> int:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium"))
        try:
            page = browser.new_page(viewport=A4, device_scale_factor=1.5625)
            page.goto(source.resolve().as_uri())
            page.emulate_media(media="print")
            page.add_style_tag(content=f"main {{ padding: {MARGINS} !important; }}")
            page.evaluate(HIDE_PAGE_TWO)
            page.screenshot(path=str(target), clip={"x": 0, "y": 0, **A4})
        finally:
            browser.close()
    print(f"{target}: {target.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
