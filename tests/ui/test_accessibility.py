"""axe-core on every page of the workspace, in Chinese and English, and the focus ring's contrast.

axe-core is vendored for the tests only (tests/ui/vendor/, MPL-2.0, see SOURCE.txt); it is
injected through DevTools (`page.evaluate`), so the page keeps its Content-Security-Policy.
Each page is checked once drawn (`main[data-ready]`); a violation of serious or critical
impact fails the test with the rule, the page and the elements' selectors. Less severe
findings are printed (pytest -s) so they are seen, not hidden.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import ADMIN, OWNER
from tests.ui.test_workspace import seed_case

pytestmark = pytest.mark.slow
AXE = (Path(__file__).with_name("vendor") / "axe.min.js").read_text(encoding="utf-8")
# axe's default rule set: WCAG 2.x A and AA and its best practices
RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                         targets: v.nodes.map((n) => n.target.join(" ")) }));
}"""


@pytest.fixture(scope="module")
def pages(server):
    """Every page of the workspace (path, who looks at it), with a case to show."""
    candidate, instance = seed_case(server, name="王芳", reason="salary", decline_date="2026-01-05",
                                    needs=["薪资透明"], questions=["晋升路径?"], archive_it=False)
    task = server.ok("GET", f"/tasks?instance_id={instance}", user="hr.li")["items"][0]["id"]
    return {"inbox": ("", "hr.li"), "task": (f"tasks/{task}", "hr.li"), "candidates": ("candidates", "hr.li"),
            "candidate": (f"candidates/{candidate}", "hr.li"), "new decline": ("declines/new", "hr.li"),
            "case": (f"cases/{instance}", "hr.li"), "processes": ("processes", OWNER),
            "process": ("processes/offer_recall", OWNER), "account": ("account", "hr.li"),
            "merge": (f"candidates/{candidate}/merge", "hr.li"), "webhooks": ("webhooks", ADMIN),
            "tokens": ("tokens", ADMIN),
            "sign-in": ("signin", None)}


def violations(page) -> list[dict]:
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE)          # Runtime.evaluate: not a script of the page, so the CSP allows it
    return page.evaluate(RUN)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_has_no_serious_or_critical_axe_violation(server, browser, pages, lang):
    found, serious = {}, []
    for name, (path, user) in pages.items():
        page = browser.page(server.base, lang=lang)
        if user:
            page.goto("/app/signin")
            page.wait_for_selector("main[data-ready=signin]")
            page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[user])
        page.goto(f"/app/{path}")
        page.wait_for_selector("main[data-ready]:not([data-ready=signin])" if user else "main[data-ready=signin]")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.lang").startswith(lang)
        found[name] = violations(page)
        serious += [f"{name}: {v['id']} ({v['impact']}) {v['help']}: {v['targets']}"
                    for v in found[name] if v["impact"] in ("serious", "critical")]
        page.context.close()
    for name, items in found.items():
        for v in items:
            print(f"axe {lang} {name}: {v['id']} ({v['impact']}) {v['targets']}")
    assert not serious, "\n".join(serious)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", css)[:3])


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(_rgb(a)), _luminance(_rgb(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_keyboard_focus_ring_is_visible_with_at_least_3_to_1_contrast(server, browser):
    """WCAG 2.4.11/1.4.11: what has focus is outlined in a colour 3:1 against what is around it."""
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens["hr.li"])
    page.goto("/app/")
    page.wait_for_selector("main[data-ready=inbox]")
    checked = 0
    for _ in range(12):      # the skip link, the brand, the navigation, the session buttons, the inbox's links
        page.keyboard.press("Tab")
        ring = page.evaluate("""() => {
          const el = document.activeElement, style = getComputedStyle(el);
          let bg = "rgb(255, 255, 255)";
          for (let n = el.parentElement; n; n = n.parentElement) {
            const c = getComputedStyle(n).backgroundColor;
            if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") { bg = c; break; }
          }
          return { tag: el.tagName, text: (el.textContent || "").trim().slice(0, 30), style: style.outlineStyle,
                   width: parseFloat(style.outlineWidth), color: style.outlineColor, bg };
        }""")
        if ring["tag"] == "BODY":
            continue
        checked += 1
        assert ring["style"] != "none" and ring["width"] >= 2, ring
        assert contrast(ring["color"], ring["bg"]) >= 3, ring
    assert checked >= 8
    page.context.close()
