// <pl-heatmap colormap="diverging|sequential" fit="aspect|stretch" interactive label="...">
// A canvas of width*height cells, one pixel each, scaled up without smoothing.
// draw(values, width, height, {lo, hi}) paints; `marker = {x, y, w?, h?}` outlines a cell range.
// Events (bubbling, composed): pl-hover {x, y} (or null on leave), pl-cell {x, y} on click/Enter.
import { paint } from '../colormap.js';
import { sheet, onSchemeChange } from './util.js';

const styles = sheet(`
:host { display: block; position: relative; }
.frame { position: relative; width: 100%; line-height: 0; }
canvas { width: 100%; height: 100%; image-rendering: pixelated; display: block;
  border-radius: var(--pl-radius-s, 4px); background: var(--pl-track, #8882); }
:host([fit="stretch"]) .frame { height: 100%; }
:host([interactive]) canvas { cursor: crosshair; }
canvas:focus-visible { outline: 2px solid var(--pl-accent, #3b6cf6); outline-offset: 2px; }
.marker { position: absolute; pointer-events: none; display: none;
  outline: 2px solid var(--pl-marker, #ff0); box-shadow: 0 0 0 3px #0008; min-width: 3px; min-height: 3px; }
`);

export class PlHeatmap extends HTMLElement {
  static observedAttributes = ['colormap', 'label', 'interactive', 'fit'];
  static define(tag = 'pl-heatmap', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #data = null;
  #marker = null;
  #cursor = { x: 0, y: 0 };
  #stopScheme = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    this.frame = document.createElement('div');
    this.frame.className = 'frame';
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('part', 'canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.width = 1;
    this.canvas.height = 1;
    this.markerEl = document.createElement('div');
    this.markerEl.className = 'marker';
    this.markerEl.setAttribute('part', 'marker');
    this.frame.append(this.canvas, this.markerEl);
    root.append(this.frame);
    this.onMove = (e) => this.#emit('pl-hover', this.#cellAt(e));
    this.onLeave = () => this.#emit('pl-hover', null);
    this.onClick = (e) => {
      const c = this.#cellAt(e);
      if (c && this.hasAttribute('interactive')) { this.#cursor = c; this.#emit('pl-cell', c); }
    };
    this.onKey = (e) => this.#key(e);
  }

  connectedCallback() {
    this.canvas.addEventListener('pointermove', this.onMove);
    this.canvas.addEventListener('pointerleave', this.onLeave);
    this.canvas.addEventListener('click', this.onClick);
    this.canvas.addEventListener('keydown', this.onKey);
    this.#stopScheme = onSchemeChange(() => this.#paint());
    this.#syncAttrs();
  }

  disconnectedCallback() {
    this.canvas.removeEventListener('pointermove', this.onMove);
    this.canvas.removeEventListener('pointerleave', this.onLeave);
    this.canvas.removeEventListener('click', this.onClick);
    this.canvas.removeEventListener('keydown', this.onKey);
    this.#stopScheme?.();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    this.#syncAttrs();
    if (name === 'colormap') this.#paint();
  }

  get colormap() { return this.getAttribute('colormap') ?? 'diverging'; }
  set colormap(v) { this.setAttribute('colormap', v); }
  get label() { return this.getAttribute('label') ?? ''; }
  set label(v) { this.setAttribute('label', v); }

  /** The data last drawn: {values, width, height, lo, hi}. */
  get data() { return this.#data; }

  draw(values, width, height, { lo, hi } = {}) {
    if (lo == null || hi == null) {
      lo = Infinity; hi = -Infinity;
      for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    this.#data = { values, width, height, lo, hi };
    this.canvas.width = Math.max(1, width);
    this.canvas.height = Math.max(1, height);
    // Keep the true aspect, except that very flat maps (a 1-D tensor) get at least 1/16 height.
    if (this.getAttribute('fit') !== 'stretch') this.frame.style.aspectRatio = `${width} / ${Math.max(height, width / 16)}`;
    this.#paint();
    this.#placeMarker();
  }

  clear() {
    this.#data = null;
    this.canvas.width = 1;
    this.canvas.height = 1;
    this.marker = null;
  }

  get marker() { return this.#marker; }
  set marker(m) { this.#marker = m; this.#placeMarker(); }

  #paint() {
    const d = this.#data;
    if (!d) return;
    const ctx = this.canvas.getContext('2d');
    ctx.putImageData(paint(d.values, d.width, d.height, d.lo, d.hi, this.colormap), 0, 0);
  }

  #placeMarker() {
    const m = this.#marker, d = this.#data, s = this.markerEl.style;
    if (!m || !d) { s.display = 'none'; return; }
    s.display = 'block';
    s.left = `${(m.x / d.width) * 100}%`;
    s.top = `${(m.y / d.height) * 100}%`;
    s.width = `${((m.w ?? 1) / d.width) * 100}%`;
    s.height = `${((m.h ?? 1) / d.height) * 100}%`;
  }

  #cellAt(e) {
    const d = this.#data;
    if (!d) return null;
    const r = this.canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - r.left) / r.width) * d.width);
    const y = Math.floor(((e.clientY - r.top) / r.height) * d.height);
    if (x < 0 || y < 0 || x >= d.width || y >= d.height) return null;
    return { x, y };
  }

  #key(e) {
    const d = this.#data;
    if (!d || !this.hasAttribute('interactive')) return;
    const c = { ...this.#cursor };
    const big = e.shiftKey ? 10 : 1;
    if (e.key === 'ArrowLeft') c.x -= big;
    else if (e.key === 'ArrowRight') c.x += big;
    else if (e.key === 'ArrowUp') c.y -= big;
    else if (e.key === 'ArrowDown') c.y += big;
    else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.#emit('pl-cell', c); return; }
    else return;
    e.preventDefault();
    c.x = Math.max(0, Math.min(d.width - 1, c.x));
    c.y = Math.max(0, Math.min(d.height - 1, c.y));
    this.#cursor = c;
    this.#emit('pl-hover', c);
    this.#emit('pl-cell', c);
  }

  #syncAttrs() {
    this.canvas.setAttribute('aria-label', this.label);
    if (this.hasAttribute('interactive')) this.canvas.tabIndex = 0;
    else this.canvas.removeAttribute('tabindex');
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}
