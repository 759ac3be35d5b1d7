"""Page checks for the browser journeys: axe-core (every rule, colour contrast included) and horizontal
overflow at phone width.

axe-core is the npm package, injected into the page. Its ``axe.min.js`` is found through the
``AXE_CORE_JS`` environment variable, else in ``tests/e2e/.axe`` (where
``npm install --prefix tests/e2e/.axe axe-core@4`` puts it), else in a global node_modules.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CANDIDATES = (
    HERE / ".axe" / "node_modules" / "axe-core" / "axe.min.js",
    Path("/usr/lib/node_modules/axe-core/axe.min.js"),
    Path("/usr/local/lib/node_modules/axe-core/axe.min.js"),
    Path("/usr/share/nodejs/axe-core/axe.min.js"),
)
INSTALL_HINT = ("axe-core is not installed: run `npm install --prefix tests/e2e/.axe axe-core@4` "
                "or set AXE_CORE_JS to the path of axe.min.js")


def axe_source_path() -> Path | None:
    """Where axe.min.js is, or None."""
    configured = os.environ.get("AXE_CORE_JS")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    return next((p for p in CANDIDATES if p.is_file()), None)


_SOURCE: str | None = None


def axe_source() -> str:
    global _SOURCE
    if _SOURCE is None:
        path = axe_source_path()
        if path is None:
            raise FileNotFoundError(INSTALL_HINT)
        _SOURCE = path.read_text(encoding="utf-8")
    return _SOURCE


# Every rule axe ships outside the "experimental" tag runs (that includes best practices and
# colour-contrast); resultTypes keeps the answer small (violations only carry their nodes).
_RUN = """async () => {
  const result = await axe.run(document, {
    resultTypes: ['violations'],
    rules: {'color-contrast': {enabled: true}},
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                             summary: (n.failureSummary || '').slice(0, 300)})),
  }));
}"""


def run_axe(page) -> list[dict]:
    """axe-core's violations on the page as it is now (injected once per document)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol: the app's Content-Security-Policy (no inline
        # scripts) stays in force for the page itself
        page.evaluate(axe_source() + "\n;0")
    return page.evaluate(_RUN)


# The page overflows when the document is wider than the viewport. The culprits named are the
# elements that stick out past the right edge while their parent does not (where the overflow
# starts), skipping anything inside a box that scrolls or clips on its own.
_OVERFLOW = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const describe = el => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    else if (el.classList.length) s += '.' + Array.from(el.classList).slice(0, 2).join('.');
    const parent = el.parentElement;
    if (!el.id && parent && parent !== document.body) {
      let p = parent.tagName.toLowerCase();
      if (parent.id) p += '#' + parent.id; else if (parent.classList.length) p += '.' + parent.classList[0];
      s = p + ' > ' + s;
    }
    return s;
  };
  const clipped = el => {
    for (let a = el.parentElement; a && a !== root; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip') return true;
    }
    return false;
  };
  const culprits = [];
  if (root.scrollWidth > width) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= width + 1) continue;
      const pr = el.parentElement ? el.parentElement.getBoundingClientRect() : null;
      if (pr && pr.right > width + 1 && el.parentElement !== document.body) continue;
      if (clipped(el)) continue;
      culprits.push({element: describe(el), right: Math.round(r.right), width: Math.round(r.width)});
    }
    culprits.sort((a, b) => b.right - a.right);
  }
  return {scrollWidth: root.scrollWidth, clientWidth: width, culprits: culprits.slice(0, 5)};
}"""


# Chart text as drawn on the screen: the font size times the SVG's scale (charts scale with their
# box, so text drawn at 12 units in a 600-unit chart shrinks on a phone).
_SMALL_TEXT = """(minimum) => {
  const small = [];
  for (const t of document.querySelectorAll('svg text')) {
    const m = t.getScreenCTM();
    if (!m || !t.textContent.trim() || t.getClientRects().length === 0) continue;
    const size = parseFloat(getComputedStyle(t).fontSize) * Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
    if (size < minimum) small.push({text: t.textContent.trim().slice(0, 30), size: Math.round(size * 10) / 10});
  }
  return small;
}"""


def small_chart_text(page, minimum: float = 12) -> list[dict]:
    """SVG text drawn smaller than ``minimum`` px: [{'text', 'size'}...]."""
    return page.evaluate(_SMALL_TEXT, minimum - 0.05)


def overflow(page) -> dict:
    """{'scrollWidth', 'clientWidth', 'culprits': [{'element', 'right', 'width'}...]} of the page now."""
    return page.evaluate(_OVERFLOW)


# WCAG 2.4.11 (focus not obscured): each control matching the selector is focused the way the Tab
# key does (the browser scrolls it into view) and the point at its centre must belong to it, not to
# a sticky bar drawn over it.
_OBSCURED = """(selector) => {
  const hidden = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled || el.offsetParent === null) continue;
    el.focus();
    const r = el.getBoundingClientRect();
    const x = Math.min(Math.max(r.left + r.width / 2, 1), innerWidth - 1);
    const y = Math.min(Math.max(r.top + Math.min(r.height / 2, 12), 1), innerHeight - 1);
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === el || el.contains(hit) || (el.labels && Array.from(el.labels).some(l => l.contains(hit))))) {
      let name = hit ? hit.tagName.toLowerCase() + (hit.id ? '#' + hit.id : hit.classList.length ? '.' + hit.classList[0] : '') : 'nothing';
      hidden.push((el.id ? '#' + el.id : el.name) + ' under ' + name);
    }
    el.blur();
  }
  window.scrollTo(0, 0);
  return hidden;
}"""


def obscured_when_focused(page, selector: str) -> list[str]:
    """The controls matching ``selector`` that something else covers once they have the focus."""
    return page.evaluate(_OBSCURED, selector)


_FOCUS_STATE = """(selector) => {
  const el = document.activeElement;
  if (!el || el === document.body) return {matches: false, visible: false, name: 'nothing'};
  const style = getComputedStyle(el);
  const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadowed = style.boxShadow && style.boxShadow !== 'none';
  let name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? '[name=' + el.name + ']' : '');
  return {matches: el.matches(selector), visible: outlined || shadowed, name};
}"""


def tab_to(page, selector: str, limit: int = 250) -> dict:
    """Press Tab (from the top of the page) until the element matching ``selector`` has the focus,
    as a keyboard user reaches it; returns {'matches', 'visible' (a focus indicator is drawn), 'name'}."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate(_FOCUS_STATE, selector)
        if state["matches"]:
            return state
    raise AssertionError(f"{selector} cannot be reached with the Tab key ({limit} presses)")


@dataclass
class PageChecker:
    """Runs axe (and, on narrow screens, the overflow check) on every page a journey visits, and
    collects the problems so that one run names all of them."""

    name: str
    width: int
    lang: str
    screenshots: Path | None = None
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def check(self, page, label: str) -> None:
        page.wait_for_load_state("load")
        self.visited.append(label)
        where = f"{label} [{_path(page.url)}]"
        page_lang = page.evaluate("document.documentElement.lang") or ""
        if not page_lang.startswith(self.lang):
            self._add(f"{where}: the page is in {page_lang!r}, not {self.lang!r}")
        for v in run_axe(page):
            first = v["nodes"][0] if v["nodes"] else {"target": "?", "html": ""}
            more = f" (and {len(v['nodes']) - 1} more)" if len(v["nodes"]) > 1 else ""
            self._add(f"{where}: axe {v['id']} ({v['impact']}) at {first['target']}{more}: {v['help']} :: {_squash(first['html'])}")
        if self.width <= 480:
            o = overflow(page)
            if o["scrollWidth"] > o["clientWidth"]:
                named = ", ".join(f"{c['element']} (right edge {c['right']} px)" for c in o["culprits"]) or "?"
                self._add(f"{where}: page is {o['scrollWidth']} px wide at {o['clientWidth']} px; widest: {named}")
        small = small_chart_text(page)
        if small:
            sizes = sorted({t["size"] for t in small})
            self._add(f"{where}: {len(small)} chart labels drawn below 12 px ({', '.join(f'{x:g}' for x in sizes[:4])} px), "
                      f"e.g. {small[0]['text']!r}")
        if self.screenshots is not None:
            self.screenshots.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{len(self.visited):02d}-{label}".lower()).strip("-")
            page.screenshot(path=str(self.screenshots / f"{slug}.png"), full_page=True)

    def check_focus(self, page, label: str, selector: str = "main input:not([type=hidden]), main select, main textarea") -> None:
        """Focused controls must not hide behind sticky parts of the page (WCAG 2.4.11)."""
        hidden = obscured_when_focused(page, selector)
        if hidden:
            more = f" (and {len(hidden) - 3} more)" if len(hidden) > 3 else ""
            self._add(f"{label} [{_path(page.url)}]: focused controls hidden behind other elements: {', '.join(hidden[:3])}{more}")

    def keyboard(self, page, label: str, selector: str) -> None:
        """Reach ``selector`` with the Tab key (fails the journey if it cannot be reached) and
        check that the focus shows (WCAG 2.4.7)."""
        state = tab_to(page, selector)
        if not state["visible"]:
            self._add(f"{label} [{_path(page.url)}]: no visible focus indicator on {state['name']}")

    def _add(self, problem: str) -> None:
        print(f"{self.name}: {problem}")  # shown by pytest also when a later step of the journey fails
        self.problems.append(problem)

    def assert_clean(self) -> None:
        assert not self.problems, (f"{self.name}: {len(self.problems)} problem(s) on {len(self.visited)} pages visited:\n  "
                                   + "\n  ".join(self.problems))


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _squash(html: str) -> str:
    return re.sub(r"\s+", " ", html).strip()
