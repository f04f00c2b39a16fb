// Measures one screen; returns a list of problems (see tests/ui/checks.py for the limits).
(limits) => {
  const problems = [];
  const parse = (c) => {
    const m = c && c.match(/rgba?\(([^)]+)\)/);
    if (!m) { return null; }
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(parseFloat);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const chain = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) { chain.push(e); }
    let c = { r: 255, g: 255, b: 255, a: 1 };
    for (const e of chain.reverse()) {
      const b = parse(getComputedStyle(e).backgroundColor);
      if (b && b.a > 0) { c = over(b, c); }
    }
    return c;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const name = (el) => {
    const id = el.id ? "#" + el.id : "";
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 30);
    return el.tagName.toLowerCase() + id + " '" + text + "'";
  };
  const dialog = document.getElementById("idle");
  const modal = dialog && !dialog.hidden;
  const inScope = (el) => !modal || dialog.contains(el);

  // 1. Targets: >= 20 mm both ways, >= 2 mm apart, inside the screen (no scrolling).
  const tappable = Array.from(document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, [role=button], [data-tap]"
  )).filter((el) => visible(el) && inScope(el));
  const rects = tappable.map((el) => el.getBoundingClientRect());
  tappable.forEach((el, i) => {
    const r = rects[i];
    if (r.width < limits.target || r.height < limits.target) {
      problems.push(`target ${name(el)} is ${r.width.toFixed(0)}x${r.height.toFixed(0)} px`);
    }
    if (r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5) {
      problems.push(`target ${name(el)} is outside the screen (would need scrolling)`);
    }
    for (let j = i + 1; j < tappable.length; j++) {
      const o = tappable[j], q = rects[j];
      if (el.contains(o) || o.contains(el)) { continue; }
      const dx = Math.max(0, Math.max(r.left, q.left) - Math.min(r.right, q.right));
      const dy = Math.max(0, Math.max(r.top, q.top) - Math.min(r.bottom, q.bottom));
      if (Math.max(dx, dy) < limits.gap) {
        problems.push(`targets ${name(el)} and ${name(o)} are ${Math.max(dx, dy).toFixed(1)} px apart`);
      }
    }
    // Control boundary: its border, or else its fill, stands out 3:1 from what is behind it.
    // (The logo is the staff's hidden door, [data-tap]: deliberately not drawn as a control.)
    const s = getComputedStyle(el);
    const behind = background(el.parentElement);
    const border = parse(s.borderTopColor);
    const fill = background(el);
    const edge = parseFloat(s.borderTopWidth) > 0 && border ? Math.max(ratio(border, behind), ratio(fill, behind)) : ratio(fill, behind);
    if (!el.hasAttribute("data-tap")) {
      if (edge < limits.graphic) {
        problems.push(`control ${name(el)} boundary contrast ${edge.toFixed(2)}`);
      }
    }
  });
  if (document.documentElement.scrollHeight > innerHeight + 1 ||
      document.documentElement.scrollWidth > innerWidth + 1) {
    problems.push(`page is ${document.documentElement.scrollWidth}x${document.documentElement.scrollHeight}: it scrolls`);
  }

  // 2. Text: >= 23 px, contrast >= 7:1; headings and button words larger than body text.
  const all = Array.from(document.body.querySelectorAll("*")).filter((el) => visible(el) && inScope(el));
  const bodySize = parseFloat(getComputedStyle(document.body).fontSize);
  for (const el of all) {
    if (el.closest("svg")) { continue; }
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) { continue; }
    const s = getComputedStyle(el);
    const size = parseFloat(s.fontSize);
    if (size < limits.text) { problems.push(`text ${name(el)} is ${size} px`); }
    if (el.closest("h1") && size <= bodySize * 1.4) { problems.push(`heading ${name(el)} is only ${size} px`); }
    if (el.closest(".btn") && size <= bodySize) { problems.push(`button words ${name(el)} are only ${size} px`); }
    const color = parse(s.color);
    const c = ratio(over(color, background(el)), background(el));
    if (c < limits.contrast) { problems.push(`text ${name(el)} contrast ${c.toFixed(2)}`); }
  }
  // 3. Icons: 3:1 against what is behind them.
  for (const svg of document.querySelectorAll("svg")) {
    if (!visible(svg) || !inScope(svg)) { continue; }
    const c = ratio(parse(getComputedStyle(svg).color), background(svg.parentElement));
    if (c < limits.graphic) { problems.push(`icon in ${name(svg.parentElement)} contrast ${c.toFixed(2)}`); }
  }
  // 4. No pop-ups: the only dialog is the idle warning.
  for (const el of document.querySelectorAll("dialog, [role=dialog], [role=alertdialog]")) {
    if (el.id !== "idle") { problems.push(`pop-up ${name(el)}`); }
  }
  // 5. Colour is never the only cue: every target has words or a label.
  for (const el of tappable) {
    if (!(el.textContent || "").trim() && !el.getAttribute("aria-label")) {
      problems.push(`target ${name(el)} has no words`);
    }
  }
  return problems;
}
