// A small, honest subset of axe-core's rules, run in the page with page.evaluate (no npm offline).
// Returns a list of problems as strings; an empty list means every check passed.
// Checks: page language, accessible names of form controls, buttons and links, unique ids,
// no positive tabindex, grouped radios/checkboxes have a legend, aria-labelledby/-describedby
// targets exist, images have alt, live regions present, and WCAG AA text contrast (1.4.3).
() => {
  const problems = [];
  const visible = (node) => {
    if (!(node instanceof Element)) return false;
    if (node.closest("[hidden]")) return false;
    const style = getComputedStyle(node);
    if (style.display === "none" || style.visibility === "hidden") return false;
    const rect = node.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0;
  };
  const describe = (node) => {
    const id = node.id ? `#${node.id}` : "";
    const cls = typeof node.className === "string" && node.className ? `.${node.className.trim().split(/\s+/).join(".")}` : "";
    return `<${node.tagName.toLowerCase()}${id}${cls}>`;
  };
  const textOf = (node) => (node?.textContent || "").replace(/\s+/g, " ").trim();
  const byIds = (ids) => ids.split(/\s+/).filter(Boolean).map((id) => document.getElementById(id));

  function accessibleName(node) {
    const labelledby = node.getAttribute("aria-labelledby");
    if (labelledby) {
      const text = byIds(labelledby).map(textOf).join(" ").trim();
      if (text) return text;
    }
    const aria = node.getAttribute("aria-label");
    if (aria && aria.trim()) return aria.trim();
    if (node.labels && node.labels.length) {
      const text = [...node.labels].map(textOf).join(" ").trim();
      if (text) return text;
    }
    if (["BUTTON", "A", "SUMMARY", "OPTION"].includes(node.tagName)) {
      const text = textOf(node);
      if (text) return text;
    }
    if (node.tagName === "INPUT" && ["submit", "button", "reset"].includes(node.type) && node.value) return node.value;
    const title = node.getAttribute("title");
    return title && title.trim() ? title.trim() : "";
  }

  // 1. page language
  if (!document.documentElement.lang) problems.push("html has no lang attribute");
  if (!document.title.trim()) problems.push("page has no title");

  // 2. accessible names
  for (const node of document.querySelectorAll("input, select, textarea, button, a[href], summary, [role=button]")) {
    if (node.type === "hidden" || !visible(node)) continue;
    if (!accessibleName(node)) problems.push(`no accessible name: ${describe(node)}`);
  }

  // 3. unique ids
  const seen = new Map();
  for (const node of document.querySelectorAll("[id]")) {
    if (seen.has(node.id)) problems.push(`duplicate id: ${node.id}`);
    seen.set(node.id, node);
  }

  // 4. no positive tabindex (it breaks the natural order)
  for (const node of document.querySelectorAll("[tabindex]")) {
    if (Number(node.getAttribute("tabindex")) > 0) problems.push(`positive tabindex: ${describe(node)}`);
  }

  // 5. groups of radios / checkboxes sit in a fieldset with a legend (or a named group)
  const groups = new Map();
  for (const node of document.querySelectorAll("input[type=radio], input[type=checkbox]")) {
    if (!visible(node)) continue;
    groups.set(node.name, [...(groups.get(node.name) || []), node]);
  }
  for (const [groupName, members] of groups) {
    if (members.length < 2) continue;
    const fieldset = members[0].closest("fieldset");
    const group = members[0].closest("[role=group], [role=radiogroup]");
    const named = (fieldset && textOf(fieldset.querySelector("legend"))) || (group && accessibleName(group));
    if (!named) problems.push(`group "${groupName}" has no legend`);
  }

  // 6. ARIA references point at real elements
  for (const attr of ["aria-labelledby", "aria-describedby", "aria-controls"]) {
    for (const node of document.querySelectorAll(`[${attr}]`)) {
      for (const id of node.getAttribute(attr).split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`${attr} of ${describe(node)} names missing id "${id}"`);
      }
    }
  }

  // 7. images
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push(`img without alt: ${describe(img)}`);
  }

  // 8. contrast of visible text (WCAG 2.1 1.4.3: 4.5:1, large text 3:1; disabled controls exempt)
  const parse = (color) => {
    const m = color.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const parts = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({ r, g, b }) => {
    const channel = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (node) => {
    const layers = [];
    for (let el = node; el; el = el.parentElement) {
      const bg = parse(getComputedStyle(el).backgroundColor);
      if (bg && bg.a > 0) {
        layers.push(bg);
        if (bg.a >= 1) break;
      }
    }
    let result = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) result = blend(layer, result);
    return result;
  };
  const checked = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode;
    const node = text.parentElement;
    if (!node || checked.has(node) || !text.textContent.trim()) continue;
    checked.add(node);
    if (!visible(node) || node.closest(".visually-hidden, option, [disabled], :disabled")) continue;
    const style = getComputedStyle(node);
    const fg = parse(style.color);
    if (!fg) continue;
    const bg = background(node);
    const color = blend({ ...fg, a: fg.a * Number(style.opacity || 1) }, bg);
    const [l1, l2] = [luminance(color), luminance(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${describe(node)} "${textOf(node).slice(0, 40)}"`);
  }

  return problems;
}
