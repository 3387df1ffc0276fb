"""What the screen-fit browser test measures in a page, as scripts Chromium runs (shadow roots included).

- :data:`CUT_CONTENT`: every visible element that hides part of its content without a scrollbar
  (``overflow`` hidden or clip, its content larger than its box, and a text or an element of at
  least 3x3 px lying outside the box): cut text, a table whose last column is missing, a button
  whose label is clipped. Content that spills out of a box with
  ``overflow: visible`` reaches an ancestor: the one that cuts it is reported, or the page scrolls.
- :data:`LEGENDS_OVER_DATA`: every non-empty legend a Bokeh plot draws inside its data area (in
  ``plot.center``) rather than beside it.
- :data:`TOGGLE_CONTRAST`: per toggle group, the contrast ratio (WCAG) between the selected
  option's background and an unselected one's.
- :data:`OVERLAPS`: pairs of controls or text blocks (buttons, labels, inputs, paragraphs,
  headings, tables) whose boxes overlap without one holding the other: a label under a button.
- :data:`LOADING_OVERLAYS`: the elements showing Panel's loading overlay.
- :func:`defects`: all of the above on the page as it is (and blank plots); :func:`defects_at` at
  each of several screen sizes.
"""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

LAPTOP, LARGE = {"width": 1366, "height": 768}, {"width": 1920, "height": 1080}
MIN_CONTRAST = 3.0

CUT_CONTENT = """
() => {
  const found = [];
  const skip = new Set(["INPUT", "TEXTAREA", "SELECT", "OPTION", "CANVAS", "IMG", "svg", "SCRIPT", "STYLE"]);
  const describe = (el) => {
    const cls = typeof el.className === "string" ? el.className.trim().split(/\\s+/).slice(0, 3).join(".") : "";
    const text = (el.innerText || el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 60);
    return `${el.tagName.toLowerCase()}${cls ? "." + cls : ""} "${text}"`;
  };
  // something a user would see lies (partly) outside the element's box: a text or an element at
  // least 3x3 px that no box in between clips already (that one is checked on its own; so a screen
  // reader's visually hidden 1 px label is not cut content)
  const clips = (node) => {
    const style = getComputedStyle(node);
    return ["hidden", "clip"].includes(style.overflowX) || ["hidden", "clip"].includes(style.overflowY);
  };
  const clippedBetween = (node, el) => {
    for (let up = node.parentElement; up && up !== el; up = up.parentElement) if (clips(up)) return true;
    return false;
  };
  const spillsOut = (el, cutX, cutY) => {
    const frame = el.getBoundingClientRect();
    const box = {left: frame.left + el.clientLeft, top: frame.top + el.clientTop};
    box.right = box.left + el.clientWidth;
    box.bottom = box.top + el.clientHeight;
    const outside = (r) => r.width > 2 && r.height > 2 &&
      ((cutX && (r.right > box.right + 2 || r.left < box.left - 2)) ||
       (cutY && (r.bottom > box.bottom + 2 || r.top < box.top - 2)));
    const roots = [el, ...(el.shadowRoot ? [el.shadowRoot] : [])];
    for (const root of roots) {
      const texts = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = texts.nextNode(); node; node = texts.nextNode()) {
        if (!node.textContent.trim() || clippedBetween(node, el)) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        if ([...range.getClientRects()].some(outside)) return true;
      }
      for (const child of root.querySelectorAll("*")) {
        const style = getComputedStyle(child);
        if (style.visibility !== "hidden" && style.display !== "none" && !clippedBetween(child, el) &&
            outside(child.getBoundingClientRect())) {
          return true;
        }
      }
    }
    return false;
  };
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) walk(el.shadowRoot);
      // a plot clips its glyphs to its axes; the template's body hides its overflow while the sidebar
      // and the main area scroll on their own (Bokeh's empty root divs reach 8 px below it)
      if (skip.has(el.tagName) || el.tagName === "BODY" || el.classList.contains("bk-CartesianFrame")) continue;
      const box = el.getBoundingClientRect();
      if (box.width < 4 || box.height < 4) continue;
      const style = getComputedStyle(el);
      if (style.visibility === "hidden" || style.display === "none") continue;
      const cutX = ["hidden", "clip"].includes(style.overflowX) && el.scrollWidth - el.clientWidth > 2;
      const cutY = ["hidden", "clip"].includes(style.overflowY) && el.scrollHeight - el.clientHeight > 2;
      if ((cutX || cutY) && spillsOut(el, cutX, cutY)) {
        found.push(`${describe(el)}: content ${el.scrollWidth}x${el.scrollHeight} in a box ` +
                   `${el.clientWidth}x${el.clientHeight}, overflow ${style.overflowX}/${style.overflowY}`);
      }
    }
  };
  walk(document);
  return found;
}
"""

LEGENDS_OVER_DATA = """
() => {
  const found = [];
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
    for (const model of doc.all_models) {
      if (!model.center || !model.renderers) continue;  // a plot
      for (const item of model.center) {
        const isLegend = item.constructor && item.constructor.__name__ === "Legend";
        if (isLegend && item.visible && item.items.length > 0) {
          const title = model.title && model.title.text ? model.title.text : "(untitled)";
          found.push(`legend inside the data area of "${title}"`);
        }
      }
    }
  }
  return found;
}
"""

TOGGLE_CONTRAST = """
() => {
  const luminance = (css) => {
    const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map(Number).map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratios = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) walk(el.shadowRoot);
    }
    for (const group of root.querySelectorAll(".bk-btn-group")) {
      const active = group.querySelector(".bk-btn.bk-active");
      const other = group.querySelector(".bk-btn:not(.bk-active)");
      if (!active || !other || active.getBoundingClientRect().width === 0) continue;
      const a = luminance(getComputedStyle(active).backgroundColor);
      const b = luminance(getComputedStyle(other).backgroundColor);
      ratios.push([active.innerText.trim(), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
    }
  };
  walk(document);
  return ratios;
}
"""

LOADING_OVERLAYS = """
() => {
  let count = 0;
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (el.classList && el.classList.contains("pn-loading") && el.getBoundingClientRect().width > 0) count += 1;
    }
  };
  walk(document);
  return count;
}
"""

OVERLAPS = """
() => {
  const boxes = [];
  const wanted = "button, label, select, input, p, h1, h2, h3, h4, table, .bk-btn, .noUi-target";
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) walk(el.shadowRoot);
    }
    for (const el of root.querySelectorAll(wanted)) {
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (box.width < 4 || box.height < 4 || style.visibility === "hidden" || style.display === "none") continue;
      if (el.closest(".bk-Toolbar, .choices, .filepond--root, .jp-Notebook")) continue;
      boxes.push([el, box]);
    }
  };
  walk(document);
  const found = [];
  const text = (el) => (el.innerText || el.value || el.tagName).trim().replace(/\\s+/g, " ").slice(0, 40);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = boxes[i], [b, q] = boxes[j];
      const dx = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const dy = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (dx <= 4 || dy <= 4) continue;
      const inside = (r, s) => r.left >= s.left - 1 && r.right <= s.right + 1
                               && r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
      if (inside(p, q) || inside(q, p)) continue;  // one holds the other (a label around its input)
      found.push(`"${text(a)}" overlaps "${text(b)}" by ${Math.round(dx)}x${Math.round(dy)} px`);
    }
  }
  return found;
}
"""


NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def laid_out(page) -> None:
    """Wait until the page is laid out and painted at its present size: two animation frames (Bokeh
    lays a resized page out before the next one) and a short pause for a plot's redraw. A fixed 0.5-1 s
    sleep in its place cost the screen-fit walk about a minute of waiting."""
    page.evaluate(NEXT_FRAMES)
    time.sleep(0.15)


def _busy(page) -> bool:
    building = page.locator(".bk-panel-models-markup-HTML, .markdown", has_text="Building").count()
    spinning = page.locator(".pn-loading, .bk-LoadingSpinner").count()
    return bool(page.evaluate(LOADING_OVERLAYS) or building or spinning)


def settle(page, timeout: float = 240) -> None:
    """Wait until no loading overlay, spinner or "Building" notice is left, and none comes back within
    0.3 s (a view's next step may start as the last ends); then until the page is laid out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _busy(page):
            time.sleep(0.3)
            if not _busy(page):
                laid_out(page)
                return
        time.sleep(0.3)
    raise AssertionError(f"the page was still loading after {timeout} s")


def blank_plots(page) -> list[str]:
    """The plots on screen that drew nothing: a canvas whose pixels are (almost) all one colour."""
    found = []
    canvases = page.locator(".bk-Canvas")
    for i in range(canvases.count()):
        canvas = canvases.nth(i)
        try:
            box = canvas.bounding_box(timeout=5_000)
        except Exception:  # redrawn meanwhile: the next check sees the new one
            continue
        if box is None or box["width"] < 60 or box["height"] < 60 or not canvas.is_visible():
            continue
        try:
            shot = canvas.screenshot(timeout=10_000)
        except Exception:
            continue
        pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.int16)
        background = np.bincount(pixels.ravel()).argmax()
        if (np.abs(pixels - background) > 24).mean() < 0.005:  # axes and labels alone cover ~1-3 %
            size, at = f"{int(box['width'])}x{int(box['height'])}", f"({int(box['x'])}, {int(box['y'])})"
            found.append(f"a {size} plot at {at} is blank")
    return found


def defects(page, blank: bool = True) -> list[str]:
    """Every defect this module measures on the page as it is now, one line each (blank plots only if ``blank``)."""
    found = [f"blank: {line}" for line in blank_plots(page)] if blank else []
    found += [f"cut: {line}" for line in page.evaluate(CUT_CONTENT)]
    found += [f"overlap: {line}" for line in page.evaluate(OVERLAPS)]
    found += [f"legend: {line}" for line in page.evaluate(LEGENDS_OVER_DATA)]
    found += [f"toggle '{label}' selected at contrast {ratio:.2f}:1"
              for label, ratio in page.evaluate(TOGGLE_CONTRAST) if ratio < MIN_CONTRAST]
    return found


def defects_at(page, sizes=(LAPTOP,), where: str = "", settled: bool = True) -> list[str]:
    """:func:`defects` at each screen size in ``sizes`` (the page's size is restored afterwards), once
    the page has settled (:func:`settle`; unless ``settled`` is false: a page that keeps redrawing, as
    training, whose plots are not checked for being blank: a frame may be redrawing them)."""
    if settled:
        settle(page)
    before, found = page.viewport_size, []
    for size in sizes:
        page.set_viewport_size(size)
        laid_out(page)
        found += [f"{where} at {size['width']}x{size['height']}: {line}" for line in defects(page, blank=settled)]
    page.set_viewport_size(before)
    return found
