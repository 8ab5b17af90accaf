// <pl-legend colormap="diverging|sequential" lo="-1" hi="1" label="...">: a colour bar with its
// range, so that every heatmap says what its colours mean.
import { gradient } from '../colormap.js';
import { sheet, onSchemeChange, fmt } from './util.js';

const styles = sheet(`
:host { display: block; font-size: 0.8em; color: var(--pl-muted, inherit); }
.bar { height: 0.6rem; border-radius: 3px; }
.ticks { display: flex; justify-content: space-between; margin-top: 0.2rem;
  font-family: var(--pl-mono, ui-monospace, monospace); font-variant-numeric: tabular-nums; }
.label { margin-bottom: 0.2rem; }
`);

export class PlLegend extends HTMLElement {
  static observedAttributes = ['colormap', 'lo', 'hi', 'label'];
  static define(tag = 'pl-legend', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #stopScheme = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    this.labelEl = document.createElement('div');
    this.labelEl.className = 'label';
    this.labelEl.setAttribute('part', 'label');
    this.bar = document.createElement('div');
    this.bar.className = 'bar';
    this.bar.setAttribute('part', 'bar');
    this.ticks = document.createElement('div');
    this.ticks.className = 'ticks';
    this.ticks.setAttribute('part', 'ticks');
    this.loEl = document.createElement('span');
    this.midEl = document.createElement('span');
    this.hiEl = document.createElement('span');
    this.ticks.append(this.loEl, this.midEl, this.hiEl);
    root.append(this.labelEl, this.bar, this.ticks);
  }

  connectedCallback() { this.#stopScheme = onSchemeChange(() => this.#render()); this.#render(); }
  disconnectedCallback() { this.#stopScheme?.(); }
  attributeChangedCallback(n, a, b) { if (a !== b) this.#render(); }

  #render() {
    const map = this.getAttribute('colormap') ?? 'diverging';
    this.bar.style.background = gradient(map);
    const lo = Number(this.getAttribute('lo') ?? 0), hi = Number(this.getAttribute('hi') ?? 1);
    this.labelEl.textContent = this.getAttribute('label') ?? '';
    this.labelEl.hidden = !this.getAttribute('label');
    this.loEl.textContent = fmt(lo);
    this.midEl.textContent = fmt((lo + hi) / 2);
    this.hiEl.textContent = fmt(hi);
  }
}
