// <pl-net-meter count="0" state="idle|armed|busy">: network requests since arm() was called,
// from the Performance API (resource entries of this page, plus those reported by the worker
// through add()). Lists what was requested in a disclosure.
import { sheet, el } from './util.js';

const styles = sheet(`
:host { display: inline-block; font-size: 0.85em; }
details { position: relative; }
summary { list-style: none; cursor: pointer; display: inline-flex; gap: 0.45rem; align-items: center;
  padding: 0.25rem 0.6rem; border-radius: 999px; border: 1px solid var(--pl-border, #8884);
  font-variant-numeric: tabular-nums; white-space: nowrap; }
summary::-webkit-details-marker { display: none; }
summary:focus-visible { outline: 2px solid var(--pl-accent, #3b6cf6); }
.dot { width: 0.55rem; height: 0.55rem; border-radius: 50%; background: var(--pl-muted, #888); }
:host([state="armed"]) .dot, :host([state="busy"]) .dot { background: var(--pl-ok, #1f9d55); }
:host([count]:not([count="0"])) .dot { background: var(--pl-warn, #d97706); }
:host([state="busy"]) .dot { box-shadow: 0 0 0 3px var(--pl-ok-soft, #1f9d5544); }
.n { font-weight: 700; font-family: var(--pl-mono, ui-monospace, monospace); }
ul { position: absolute; right: 0; z-index: 5; margin: 0.3rem 0 0; padding: 0.5rem 0.7rem; min-width: 16rem;
  max-width: 80vw; max-height: 14rem; overflow: auto; list-style: none; border-radius: 8px;
  background: var(--pl-surface, Canvas); border: 1px solid var(--pl-border, #8884);
  box-shadow: 0 6px 24px #0003; font-family: var(--pl-mono, ui-monospace, monospace); font-size: 0.85em; }
li { overflow-wrap: anywhere; padding: 0.1rem 0; }
`);

export class PlNetMeter extends HTMLElement {
  static observedAttributes = ['count', 'state'];
  static define(tag = 'pl-net-meter', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #since = null;  // epoch ms; null until armed
  #seen = [];
  #observer = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    const details = el('details');
    const summary = el('summary');
    summary.setAttribute('part', 'summary');
    this.n = el('span', 'n', '–');
    this.text = el('span', 'text', 'requests: waiting for the model');
    summary.append(el('span', 'dot'), this.n, this.text);
    this.list = el('ul');
    this.list.setAttribute('part', 'list');
    details.append(summary, this.list);
    root.append(details);
  }

  connectedCallback() {
    if (typeof PerformanceObserver === 'undefined') {
      this.text.textContent = 'no Performance API here';
      return;
    }
    this.#observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.add({ name: e.name, at: performance.timeOrigin + e.startTime });
    });
    this.#observer.observe({ type: 'resource', buffered: true });
    this.#render();
  }

  disconnectedCallback() { this.#observer?.disconnect(); }
  attributeChangedCallback(n, a, b) { if (a !== b) this.#render(); }

  get count() { return Number(this.getAttribute('count') ?? 0); }
  get state() { return this.getAttribute('state') ?? 'idle'; }
  set state(v) { this.setAttribute('state', v); }

  /** Starts counting now (epoch ms by default). */
  arm(since = performance.timeOrigin + performance.now()) {
    this.#since = since;
    this.#seen = [];
    this.setAttribute('count', '0');
    if (this.state === 'idle') this.state = 'armed';
    this.#render();
  }

  /** Records one request {name, at: epoch ms}; counted if it started after arm(). */
  add(entry) {
    if (this.#since == null || entry.at < this.#since) return;
    this.#seen.push(entry);
    this.setAttribute('count', String(this.#seen.length));
  }

  #render() {
    if (!this.n) return;
    if (this.#since == null) { this.n.textContent = '–'; return; }
    const c = this.#seen.length;
    this.n.textContent = String(c);
    this.text.textContent = `${c === 1 ? 'request' : 'requests'} since the model loaded${this.state === 'busy' ? ' · generating' : ''}`;
    this.list.replaceChildren();
    if (!c) this.list.append(el('li', '', 'None: everything runs in this tab.'));
    for (const e of this.#seen.slice(-50)) this.list.append(el('li', '', e.name));
  }
}
