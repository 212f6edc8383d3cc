// BPMN diagrams drawn from the files' DI with bpmn-js's viewer (vendored, MIT + bpmn.io
// watermark clause: static/vendor/bpmn-js/LICENSE), loaded only on pages that draw one.
// Names written "中文 / English" are shown in the user's language.

import { h } from "./dom.js";
import { pick, t } from "./i18n.js";

const STATIC = document.documentElement.dataset.static || "/app/static/";
let loading = null;

export function loadViewer() {
  if (window.BpmnJS) return Promise.resolve(window.BpmnJS);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      for (const css of ["vendor/bpmn-js/diagram-js.css", "vendor/bpmn-js/bpmn-js.css"]) {
        if (!document.querySelector(`link[href="${STATIC}${css}"]`)) {
          document.head.append(h("link", { rel: "stylesheet", href: STATIC + css }));
        }
      }
      const script = h("script", { src: `${STATIC}vendor/bpmn-js/bpmn-viewer.production.min.js` });
      script.addEventListener("load", () => resolve(window.BpmnJS));
      script.addEventListener("error", () => reject(new Error("bpmn-js did not load")));
      document.head.append(script);
    });
  }
  return loading;
}

// id -> name (in the user's language) of every named element of a BPMN file.
export function elementNames(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const names = {};
  for (const el of doc.getElementsByTagName("*")) {
    const id = el.getAttribute("id");
    if (id && el.getAttribute("name")) names[id] = pick(el.getAttribute("name"));
  }
  return names;
}

// calledElement (process id) -> ids of the call activities calling it, in one BPMN file.
export function callActivities(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const calls = {};
  for (const el of doc.getElementsByTagName("*")) {
    if (el.localName === "callActivity" && el.getAttribute("calledElement")) {
      (calls[el.getAttribute("calledElement")] ||= []).push(el.getAttribute("id"));
    }
  }
  return calls;
}

export function elementIds(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const ids = new Set();
  for (const el of doc.getElementsByTagName("*")) if (el.getAttribute("id")) ids.add(el.getAttribute("id"));
  return ids;
}

function localise(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  for (const el of doc.getElementsByTagName("*")) {
    const name = el.getAttribute("name");
    if (name && name.includes(" / ")) el.setAttribute("name", pick(name));
  }
  return new XMLSerializer().serializeToString(doc);
}

// Draws `xml` into a new figure; `marks` = {done: [ids], current: [ids], timers: [{id, text}],
// messages: [ids], badges: [{id, text, label}], markers: [{id, cls}]}; `focus`: an element id to scroll to.
export function drawDiagram({ xml, title, description, marks = {}, focus }) {
  const figureId = `diagram-${Math.random().toString(36).slice(2, 8)}`;
  const canvasHost = h("div", { class: "diagram-canvas" });
  const scroller = h("div", {
    class: "diagram-scroll", tabindex: "0", role: "region", "aria-label": description || title,
  }, canvasHost);
  const zoomOut = h("button", { type: "button", class: "secondary" }, "−");
  const zoomIn = h("button", { type: "button", class: "secondary" }, "+");
  const fit = h("button", { type: "button", class: "secondary" }, t("zoom_fit"));
  zoomOut.setAttribute("aria-label", t("zoom_out"));
  zoomIn.setAttribute("aria-label", t("zoom_in"));
  zoomOut.title = t("zoom_out");
  zoomIn.title = t("zoom_in");
  const figure = h("figure", { class: "diagram", id: figureId },
    h("figcaption", {}, h("span", { class: "diagram-title" }, title),
      h("span", { class: "zoom", role: "group", "aria-label": `${t("zoom_in")} / ${t("zoom_out")}` }, zoomOut, zoomIn, fit)),
    scroller);

  const draw = async () => {
    const BpmnJS = await loadViewer();
    const viewer = new BpmnJS({ container: canvasHost });
    await viewer.importXML(localise(xml));
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    const overlays = viewer.get("overlays");
    const has = (id) => Boolean(registry.get(id));
    for (const id of marks.done || []) if (has(id)) canvas.addMarker(id, "is-done");
    for (const id of marks.messages || []) if (has(id)) canvas.addMarker(id, "is-message");
    for (const m of marks.markers || []) if (has(m.id)) canvas.addMarker(m.id, m.cls);
    for (const timer of marks.timers || []) {
      if (!has(timer.id)) continue;
      canvas.addMarker(timer.id, "is-timer");
      // above the event (its name is below it); below a boundary timer on its task's lower edge
      const el = registry.get(timer.id);
      const below = el.host && el.y + el.height / 2 > el.host.y + el.host.height / 2;
      overlays.add(timer.id, { position: { top: below ? el.height + 4 : -22, left: -38 }, html: h("div", { class: "overlay-timer" }, timer.text) });
    }
    for (const id of marks.current || []) {
      if (!has(id)) continue;
      canvas.addMarker(id, "is-current");
      overlays.add(id, { position: { top: -22, left: 0 }, html: h("div", { class: "overlay-current" }, t("legend_current")) });
    }
    for (const badge of marks.badges || []) {
      if (!has(badge.id)) continue;
      canvas.addMarker(badge.id, "has-count");
      const el = h("div", { class: "overlay-count", title: badge.label }, badge.text);
      overlays.add(badge.id, { position: { top: -12, right: 12 }, html: el });
    }

    // Natural size with the page scrolling it; zoom buttons change the scale.
    const inner = canvas.viewbox().inner;
    const pad = 30;
    let scale = 1;
    const apply = () => {
      const width = Math.ceil((inner.width + 2 * pad) * scale);
      const height = Math.ceil((inner.height + 2 * pad) * scale);
      canvasHost.style.width = `${width}px`;
      canvasHost.style.height = `${height}px`;
      canvas.resized();
      canvas.viewbox({ x: inner.x - pad, y: inner.y - pad, width: width / scale, height: height / scale });
    };
    const fitWidth = () => {
      const available = scroller.clientWidth || 1000;
      scale = Math.max(0.25, Math.min(1, available / (inner.width + 2 * pad)));
      apply();
    };
    const scrollTo = (id) => {
      const el = id && registry.get(id);
      if (!el) return;
      const x = (el.x - inner.x + pad) * scale;
      const y = (el.y - inner.y + pad) * scale;
      scroller.scrollLeft = Math.max(0, x - scroller.clientWidth / 3);
      scroller.scrollTop = Math.max(0, y - scroller.clientHeight / 3);
    };
    zoomIn.addEventListener("click", () => { scale = Math.min(2, scale * 1.25); apply(); });
    zoomOut.addEventListener("click", () => { scale = Math.max(0.2, scale / 1.25); apply(); });
    fit.addEventListener("click", fitWidth);
    // Wide processes start at a readable scale, scrolled to what matters now.
    const available = scroller.clientWidth || 1000;
    scale = Math.max(0.85, Math.min(1, available / (inner.width + 2 * pad)));
    apply();
    scrollTo(focus);
    const svg = canvasHost.querySelector("svg");   // a picture: the scroll region around it takes the focus
    svg?.setAttribute("aria-hidden", "true");
    svg?.setAttribute("tabindex", "-1");            // bpmn-js makes it focusable (tabindex 0)
    return viewer;
  };
  return { figure, draw };
}

export function nameOf(names, id) {
  return (names && names[id]) || id;
}
