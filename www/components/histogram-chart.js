// <pl-histogram log label="...">: bars of counts over [lo, hi]; draw(counts, lo, hi).
// With `log`, bar heights are log(1 + count), so that the tails show.
import { sheet, fmt, onSchemeChange } from './util.js';

const styles = sheet(`
:host { display: block; }
canvas { width: 100%; height: var(--pl-histogram-height, 8rem); display: block; }
.axis { display: flex; justify-content: space-between; font-size: 0.8em; color: var(--pl-muted, inherit);
  font-family: var(--pl-mono, ui-monospace, monospace); font-variant-numeric: tabular-nums; margin-top: 0.2rem; }
`);

export class PlHistogram extends HTMLElement {
  static observedAttributes = ['log', 'label'];
  static define(tag = 'pl-histogram', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #data = null;
  #resize = null;
  #stopScheme = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('part', 'canvas');
    this.canvas.setAttribute('role', 'img');
    this.axis = document.createElement('div');
    this.axis.className = 'axis';
    this.axis.setAttribute('part', 'axis');
    this.loEl = document.createElement('span');
    this.zeroEl = document.createElement('span');
    this.hiEl = document.createElement('span');
    this.axis.append(this.loEl, this.zeroEl, this.hiEl);
    root.append(this.canvas, this.axis);
  }

  connectedCallback() {
    this.#resize = new ResizeObserver(() => this.#paint());
    this.#resize.observe(this);
    this.#stopScheme = onSchemeChange(() => this.#paint());
  }

  disconnectedCallback() { this.#resize?.disconnect(); this.#stopScheme?.(); }

  attributeChangedCallback(n, a, b) {
    if (a === b) return;
    this.canvas.setAttribute('aria-label', this.getAttribute('label') ?? 'histogram');
    this.#paint();
  }

  get data() { return this.#data; }

  draw(counts, lo, hi) {
    this.#data = { counts, lo, hi };
    this.loEl.textContent = fmt(lo);
    this.hiEl.textContent = fmt(hi);
    this.zeroEl.textContent = lo < 0 && hi > 0 ? '0' : fmt((lo + hi) / 2);
    this.#paint();
  }

  #paint() {
    const d = this.#data;
    if (!d) return;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.canvas.width !== w) this.canvas.width = w;
    if (this.canvas.height !== h) this.canvas.height = h;
    const ctx = this.canvas.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(this);
    const bar = style.getPropertyValue('--pl-accent').trim() || '#3b6cf6';
    const faint = style.getPropertyValue('--pl-muted').trim() || '#888';
    const log = this.hasAttribute('log');
    const f = (c) => (log ? Math.log1p(c) : c);
    let top = 0;
    for (const c of d.counts) top = Math.max(top, f(c));
    const n = d.counts.length;
    const bw = w / n;
    ctx.fillStyle = bar;
    for (let i = 0; i < n; i++) {
      const bh = top ? (f(d.counts[i]) / top) * (h - 2) : 0;
      if (bh > 0) ctx.fillRect(i * bw + (bw > 3 ? 0.5 * dpr : 0), h - bh, Math.max(1, bw - (bw > 3 ? dpr : 0)), bh);
    }
    if (d.lo < 0 && d.hi > 0) {
      const x = ((0 - d.lo) / (d.hi - d.lo)) * w;
      ctx.fillStyle = faint;
      ctx.globalAlpha = 0.7;
      ctx.fillRect(Math.round(x), 0, Math.max(1, dpr), h);
      ctx.globalAlpha = 1;
      this.zeroEl.style.position = 'relative';
    }
  }
}
