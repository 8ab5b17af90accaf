// <pl-progress value="3" max="10" state="running|done|error" label="...">: a labelled bar.
import { sheet } from './util.js';

const styles = sheet(`
:host { display: block; font: inherit; }
.track { position: relative; height: var(--pl-progress-height, 0.5rem); border-radius: 999px;
  background: var(--pl-track, #8883); overflow: hidden; }
.fill { position: absolute; inset: 0 auto 0 0; width: 0; border-radius: inherit;
  background: var(--pl-accent, #3b6cf6); transition: width 120ms linear; }
:host([state="done"]) .fill { background: var(--pl-ok, #1f9d55); }
:host([state="error"]) .fill { background: var(--pl-bad, #d33); width: 100% !important; }
.label { margin-top: 0.35rem; font-variant-numeric: tabular-nums; color: var(--pl-muted, inherit);
  font-size: 0.875em; min-height: 1.3em; }
`);

export class PlProgress extends HTMLElement {
  static observedAttributes = ['value', 'max', 'state', 'label'];
  static define(tag = 'pl-progress', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    this.track = document.createElement('div');
    this.track.className = 'track';
    this.track.setAttribute('part', 'track');
    this.fill = document.createElement('div');
    this.fill.className = 'fill';
    this.fill.setAttribute('part', 'fill');
    this.track.append(this.fill);
    this.text = document.createElement('div');
    this.text.className = 'label';
    this.text.setAttribute('part', 'label');
    this.text.setAttribute('aria-live', 'polite');
    root.append(this.track, this.text);
  }

  connectedCallback() {
    this.setAttribute('role', 'progressbar');
    this.setAttribute('aria-valuemin', '0');
    this.#render();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    this.#render();
  }

  get value() { return Number(this.getAttribute('value') ?? 0); }
  set value(v) { this.setAttribute('value', String(v)); }
  get max() { return Number(this.getAttribute('max') ?? 1); }
  set max(v) { this.setAttribute('max', String(v)); }
  get state() { return this.getAttribute('state') ?? 'idle'; }
  set state(v) { this.setAttribute('state', v); }
  get label() { return this.getAttribute('label') ?? ''; }
  set label(v) { this.setAttribute('label', v); }

  #render() {
    const max = this.max > 0 ? this.max : 1;
    const frac = Math.max(0, Math.min(1, this.value / max));
    this.fill.style.width = `${(frac * 100).toFixed(2)}%`;
    this.setAttribute('aria-valuemax', String(max));
    this.setAttribute('aria-valuenow', String(this.value));
    this.text.textContent = this.label;
  }
}
