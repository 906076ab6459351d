// Runs the report's inline script against a minimal DOM and prints what it rendered, so
// tests/report/test_html.py can check paging, filtering and escaping without a browser.
// Usage: node dom_shim.js SCRIPT_FILE DATA_FILE CONTROLS_JSON
"use strict";
const fs = require("fs");
const vm = require("vm");

const [scriptFile, dataFile, controlsFile] = process.argv.slice(2);
const script = fs.readFileSync(scriptFile, "utf8");
const dataText = fs.readFileSync(dataFile, "utf8");
const controls = JSON.parse(fs.readFileSync(controlsFile, "utf8"));

class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.text = "";
    this.className = "";
    this.id = "";
    this.hidden = false;
    this.value = "";
    this.disabled = false;
    this.open = false;
    this.attributes = {};
    this.listeners = {};
  }
  appendChild(child) { this.children.push(child); return child; }
  removeChild(child) { this.children.splice(this.children.indexOf(child), 1); return child; }
  get firstChild() { return this.children.length ? this.children[0] : null; }
  set textContent(value) { this.children = []; this.text = String(value); }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(""); }
  set innerHTML(_) { throw new Error("innerHTML must not be used"); }
  insertAdjacentHTML() { throw new Error("insertAdjacentHTML must not be used"); }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  fire(type, event) { (this.listeners[type] || []).forEach((fn) => fn(event || { target: this })); }
  walk(fn) { fn(this); this.children.forEach((c) => c.walk(fn)); }
  querySelector(tag) {
    let found = null;
    this.children.forEach((c) => c.walk((n) => { if (!found && n.tagName === tag.toUpperCase()) { found = n; } }));
    return found;
  }
  scrollIntoView() { this.scrolled = true; }
}

const fixed = {};
for (const id of ["rh-findings", "rh-status", "rh-page", "rh-controls", "rh-pager"]) {
  fixed[id] = new Element(id === "rh-findings" || id === "rh-controls" || id === "rh-pager" ? "div" : "span");
}
for (const id of ["rh-f-sev", "rh-f-host", "rh-f-plat"]) { fixed[id] = new Element("select"); }
fixed["rh-f-text"] = new Element("input");
fixed["rh-prev"] = new Element("button");
fixed["rh-next"] = new Element("button");
fixed["rh-controls"].hidden = true;
fixed["rh-pager"].hidden = true;
const dataEl = new Element("script");
dataEl.text = dataText;
fixed["rh-data"] = dataEl;

const docListeners = {};
const document = {
  createElement: (tag) => new Element(tag),
  createElementNS: (ns, tag) => { const e = new Element(tag); e.namespaceURI = ns; return e; },
  createTextNode: (text) => { const e = new Element("#text"); e.text = String(text); return e; },
  getElementById(id) {
    if (id in fixed) { return fixed[id]; }
    let found = null;
    fixed["rh-findings"].walk((n) => { if (!found && n.id === id) { found = n; } });
    return found;
  },
  addEventListener(type, fn) { (docListeners[type] = docListeners[type] || []).push(fn); },
};
const context = {
  document,
  window: { location: { hash: controls.hash || "" } },
  setTimeout: (fn) => { fn(); return 1; },
  clearTimeout: () => {},
  JSON, Math, String, Number, Array, Object, decodeURIComponent,
};
vm.createContext(context);
vm.runInContext(script, context);

function snapshot() {
  const list = fixed["rh-findings"];
  return {
    ids: list.children.map((a) => a.id),
    severities: list.children.map((a) => a.querySelector("span").children[0].textContent),
    hosts: list.children.map((a) => a.querySelector("span").children[4].textContent),
    first_text: list.children.length ? list.children[0].textContent : "",
    open: list.children.filter((a) => a.querySelector("details").open).map((a) => a.id),
    status: fixed["rh-status"].textContent,
    page: fixed["rh-page"].textContent,
    prev_disabled: fixed["rh-prev"].disabled,
    next_disabled: fixed["rh-next"].disabled,
    controls_hidden: fixed["rh-controls"].hidden,
    // per finding on the page: its SVG figures (namespace, aria-label, element tags)
    figures: list.children.map((a) => {
      const figs = [];
      a.walk((n) => {
        if (n.tagName === "SVG") {
          const tags = [];
          n.walk((m) => tags.push(m.tagName.toLowerCase()));
          figs.push({ ns: n.namespaceURI || null, label: n.getAttribute("aria-label"),
                      tags, text: n.textContent, attrs: n.attributes });
        }
      });
      return figs;
    }),
    guide_links: list.children.map((a) => {
      let href = null;
      a.walk((n) => { if (n.tagName === "A" && n.getAttribute("data-guide")) { href = n.getAttribute("href"); } });
      return href;
    }),
  };
}

const out = { initial: snapshot(), steps: [] };
for (const step of controls.steps || []) {
  if (step.set) {
    fixed[step.set].value = step.value;
    fixed[step.set].fire(step.set === "rh-f-text" ? "input" : "change");
  } else if (step.click) {
    fixed[step.click].fire("click");
  } else if (step.link) {
    const anchor = { getAttribute: () => step.link };
    (docListeners.click || []).forEach((fn) => fn({
      target: { closest: () => anchor },
      preventDefault() {},
    }));
  }
  out.steps.push(snapshot());
}
process.stdout.write(JSON.stringify(out));
