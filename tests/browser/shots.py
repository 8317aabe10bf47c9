"""Screenshots of the journeys' pages, in each language and at two widths.

`shots_in("store", lang)` empties artifacts/screenshots/<lang>/store/ of an older run's
pictures and returns a `Shots`: `shots(page, "cart")` saves 03-cart-1280.png and
03-cart-390.png (a desktop page is narrowed to a phone's width for the second picture
and widened back; a phone-sized page is taken once). At 390 px it also notes what a
longer (Korean) text tends to break: a page wider than the screen, a button whose label
wraps. Those notes are listed at the end of the run and in
artifacts/screenshots/<lang>/layout.txt; they fail nothing by themselves.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# SCREENSHOTS_DIR: `make test` gives its PostgreSQL pass a folder of its own (tests/run.py).
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "artifacts" / "screenshots")
WIDE, NARROW = 1280, 390
NARROW_HEIGHT = 844

LAYOUT: dict[str, list[str]] = {}  # lang -> "store/03-cart: ..." notes

# What a phone-width page should not have: sideways overflow (with the elements that
# stick out) and buttons whose label runs over two lines or past their edge.
LAYOUT_JS = """() => {
  const out = [];
  const label = el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.classList.length ? '.' + [...el.classList].join('.') : ''} "${(el.innerText || el.value || '').trim().replace(/\\s+/g, ' ').slice(0, 30)}"`;
  const root = document.documentElement;
  const over = root.scrollWidth - root.clientWidth;
  if (over > 0) {
    // What sticks out: elements past the screen's edge, wider than their container, and
    // not inside a box that scrolls or clips them.
    const clipped = el => { for (let up = el.parentElement; up && up !== document.body; up = up.parentElement)
      if (getComputedStyle(up).overflowX !== 'visible') return true; return false; };
    const wide = [...document.body.querySelectorAll('*')].filter(el => el.offsetParent !== null
        && el.getBoundingClientRect().right > root.clientWidth + 1
        && el.getBoundingClientRect().width > el.parentElement.clientWidth + 1 && !clipped(el));
    out.push(`page is ${over}px wider than the screen: ` + wide.slice(0, 4).map(label).join(', '));
  }
  for (const el of document.querySelectorAll('button, [role=button], a.button, input[type=submit]')) {
    if (el.offsetParent === null) continue;
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || 1.25 * parseFloat(style.fontSize);
    const inner = el.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    if (inner > 1.6 * line) out.push(`button ${label(el)} wraps onto ${Math.round(inner / line)} lines`);
    else if (el.scrollWidth > el.clientWidth + 1) out.push(`button ${label(el)} is cut off (${el.scrollWidth - el.clientWidth}px)`);
  }
  return out;
}"""


class Shots:
    """Numbered full-page screenshots, each at 1280 and 390 px wide."""

    def __init__(self, folder: Path, lang: str):
        self.folder = folder
        self.lang = lang
        self.count = 0
        self.taken: list[Path] = []

    def __call__(self, page, name: str) -> list[Path]:
        self.count += 1
        # A full-page capture of a scrolled page draws the sticky header where the
        # viewport was (mid-picture): capture from the top.
        page.evaluate("window.scrollTo(0, 0)")
        size = page.viewport_size
        widths = [size["width"]] if size["width"] <= NARROW else [size["width"], NARROW]
        taken = []
        try:
            for width in widths:
                if width != page.viewport_size["width"]:
                    page.set_viewport_size({"width": width, "height": NARROW_HEIGHT})
                path = self.folder / f"{self.count:02d}-{name}-{width}.png"
                page.screenshot(path=str(path), full_page=True)
                taken.append(path)
                if width <= NARROW:
                    where = f"{self.folder.name}/{self.count:02d}-{name}"
                    LAYOUT.setdefault(self.lang, []).extend(f"{where}: {note}" for note in page.evaluate(LAYOUT_JS))
        finally:
            if page.viewport_size != size:
                page.set_viewport_size(size)
        self.taken.extend(taken)
        return taken


def shots_in(subfolder: str, lang) -> Shots:
    """Numbered screenshots in artifacts/screenshots/<lang>/<subfolder>, emptied of older runs' pictures."""
    code = getattr(lang, "code", lang)
    folder = SCREENSHOTS / code / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # only this run's pictures
        old.unlink()
    return Shots(folder, code)


def write_layout_notes() -> list[str]:
    """artifacts/screenshots/<lang>/layout.txt for each language shot; the lines, for the summary."""
    lines = []
    for code, notes in sorted(LAYOUT.items()):
        unique = list(dict.fromkeys(notes))
        (SCREENSHOTS / code).mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / code / "layout.txt").write_text("".join(f"{note}\n" for note in unique))
        lines += [f"[{code}] {note}" for note in unique]
    return lines
