// <pl-tokens variant="chips|text" show-ids color="cycle|prob" label="...">
// A row of tokens. Every piece is written as text (never HTML); in "chips" whitespace is made
// visible (· ↵ →) and special tokens are marked. Keyboard: the strip is one tab stop; arrows,
// Home and End move between tokens, Enter/Space select. Event pl-select {index, token}.
// Methods: set(tokens), append(token), truncate(n), replace(i, token), select(i) (silent).
// A token is {id, text, special?, prob?}.
import { sheet, el, visibleText } from './util.js';

const styles = sheet(`
:host { display: block; --gap: 0.2rem; }
.strip { display: flex; flex-wrap: wrap; gap: var(--gap); align-items: flex-start; min-height: 1.5em; }
:host([variant="text"]) .strip { display: block; white-space: pre-wrap; overflow-wrap: anywhere;
  line-height: 1.65; font-size: 1.05em; }
.tok { display: inline-flex; flex-direction: column; align-items: center; cursor: pointer;
  border-radius: 4px; padding: 0.05rem 0.15rem; border: 1px solid transparent;
  font-family: var(--pl-mono, ui-monospace, monospace); font-size: 0.92em; white-space: pre; }
:host([variant="text"]) .tok { display: inline; padding: 0; border: 0; border-radius: 2px;
  font-family: inherit; font-size: inherit; white-space: pre-wrap;
  box-shadow: inset 0 -1px 0 var(--pl-tok-edge, #8884); }
.tok:focus-visible { outline: 2px solid var(--pl-accent, #3b6cf6); outline-offset: 1px; }
.tok[aria-selected="true"] { outline: 2px solid var(--pl-accent, #3b6cf6); outline-offset: 1px; }
:host([variant="text"]) .tok[aria-selected="true"] { background: var(--pl-accent-soft, #3b6cf633) !important; }
.piece { line-height: 1.35; }
.id { font-size: 0.68em; opacity: 0.7; font-variant-numeric: tabular-nums; display: none; }
:host([show-ids]) .id { display: block; }
.ws { opacity: 0.45; }
.br { flex-basis: 100%; height: 0; }
.c0 { background: var(--pl-tok-0, #fde2e4); } .c1 { background: var(--pl-tok-1, #e2ece9); }
.c2 { background: var(--pl-tok-2, #dfe7fd); } .c3 { background: var(--pl-tok-3, #fff1c1); }
.c4 { background: var(--pl-tok-4, #e8dff5); } .c5 { background: var(--pl-tok-5, #d8f3dc); }
.special { background: transparent !important; border: 1px dashed var(--pl-special, #c026d3);
  color: var(--pl-special, #c026d3); }
:host([variant="text"]) .special { border: 0; }
:host([color="prob"]) .p0 { background: var(--pl-prob-0, #ef44444d); }
:host([color="prob"]) .p1 { background: var(--pl-prob-1, #f59e0b40); }
:host([color="prob"]) .p2 { background: var(--pl-prob-2, #eab30826); }
.chosen { text-decoration: underline wavy var(--pl-accent, #3b6cf6); text-underline-offset: 3px; }
.empty { color: var(--pl-muted, #888); font-style: italic; }
`);

export class PlTokens extends HTMLElement {
  static observedAttributes = ['variant', 'show-ids', 'color', 'label'];
  static define(tag = 'pl-tokens', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #tokens = [];
  #els = [];
  #selected = -1;
  #focus = 0;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    this.strip = el('div', 'strip');
    this.strip.setAttribute('part', 'strip');
    this.strip.setAttribute('role', 'listbox');
    this.strip.setAttribute('aria-orientation', 'horizontal');
    root.append(this.strip);
    this.onClick = (e) => {
      const t = e.target.closest?.('.tok');
      if (t) this.#pick(Number(t.dataset.index));
    };
    this.onKey = (e) => this.#key(e);
  }

  connectedCallback() {
    this.strip.addEventListener('click', this.onClick);
    this.strip.addEventListener('keydown', this.onKey);
    this.#syncLabel();
  }

  disconnectedCallback() {
    this.strip.removeEventListener('click', this.onClick);
    this.strip.removeEventListener('keydown', this.onKey);
  }

  attributeChangedCallback(name, a, b) {
    if (a === b) return;
    if (name === 'label') this.#syncLabel();
    if (name === 'variant') this.set(this.#tokens);
  }

  get tokens() { return this.#tokens; }
  get selectedIndex() { return this.#selected; }
  get length() { return this.#tokens.length; }
  /** The element of token i inside the shadow root (for tests and scrolling). */
  tokenElement(i) { return this.#els[i] ?? null; }

  set(tokens) {
    this.#tokens = [];
    this.#els = [];
    this.#selected = -1;
    this.#focus = 0;
    this.strip.replaceChildren();
    for (const t of tokens) this.append(t);
    if (!tokens.length && this.getAttribute('placeholder')) {
      this.strip.append(el('span', 'empty', this.getAttribute('placeholder')));
    }
  }

  append(t) {
    if (!this.#tokens.length) this.strip.querySelector('.empty')?.remove();
    const i = this.#tokens.length;
    this.#tokens.push(t);
    const node = this.#render(t, i);
    this.#els.push(node);
    this.strip.append(node);
    if (this.getAttribute('variant') !== 'text' && t.text?.includes('\n')) {
      node.after(el('span', 'br'));
    }
    if (i === 0) node.tabIndex = 0;
  }

  replace(i, t) {
    if (i < 0 || i >= this.#tokens.length) return;
    this.#tokens[i] = t;
    const node = this.#render(t, i);
    if (this.#selected === i) node.setAttribute('aria-selected', 'true');
    node.tabIndex = this.#els[i].tabIndex;
    this.#els[i].replaceWith(node);
    this.#els[i] = node;
  }

  truncate(n) {
    while (this.#tokens.length > n) {
      this.#tokens.pop();
      const node = this.#els.pop();
      if (node.nextSibling?.classList?.contains('br')) node.nextSibling.remove();
      node.remove();
    }
    if (this.#selected >= n) this.#selected = -1;
    if (this.#focus >= n) this.#focus = Math.max(0, n - 1);
    if (this.#els[this.#focus]) this.#els[this.#focus].tabIndex = 0;
  }

  /** Marks token i as selected (no event: events are for what the user does). */
  select(i, { focus = false } = {}) {
    if (i < 0 || i >= this.#tokens.length) return;
    this.#els[this.#selected]?.setAttribute('aria-selected', 'false');
    this.#selected = i;
    this.#els[i].setAttribute('aria-selected', 'true');
    this.#moveFocus(i, focus);
  }

  #pick(i) {
    if (i < 0 || i >= this.#tokens.length) return;
    this.select(i, { focus: true });
    this.dispatchEvent(new CustomEvent('pl-select', {
      detail: { index: i, token: this.#tokens[i] }, bubbles: true, composed: true,
    }));
  }

  #render(t, i) {
    const node = el('span', 'tok');
    node.dataset.index = String(i);
    node.dataset.id = String(t.id);
    node.setAttribute('part', 'token');
    node.setAttribute('role', 'option');
    node.setAttribute('aria-selected', 'false');
    node.tabIndex = -1;
    const text = t.text ?? '';
    if (t.special) node.classList.add('special');
    else node.classList.add(`c${i % 6}`);
    if (t.chosen) node.classList.add('chosen');
    if (t.prob != null) node.classList.add(t.prob < 0.1 ? 'p0' : t.prob < 0.3 ? 'p1' : t.prob < 0.6 ? 'p2' : 'p3');
    const desc = `token ${t.id}${t.prob != null ? `, p=${(t.prob * 100).toFixed(1)}%` : ''}${t.special ? ', special' : ''}`;
    node.title = desc;
    if (this.getAttribute('variant') === 'text') {
      // Real line breaks, each shown by a faint ↵ so that a newline token can still be clicked.
      const parts = text.split('\n');
      parts.forEach((p, k) => {
        if (k > 0) node.append(el('span', 'ws', '↵'), document.createTextNode('\n'));
        if (p) node.append(document.createTextNode(p));
      });
      node.setAttribute('aria-label', `${text} (${desc})`);
    } else {
      const piece = el('span', 'piece');
      piece.append(t.special ? document.createTextNode(text) : visibleText(text));
      const id = el('span', 'id', String(t.id));
      node.append(piece, id);
      node.setAttribute('aria-label', `${JSON.stringify(text)} ${desc}`);
    }
    return node;
  }

  #moveFocus(i, focus) {
    const prev = this.#els[this.#focus];
    if (prev) prev.tabIndex = -1;
    this.#focus = i;
    const next = this.#els[i];
    if (!next) return;
    next.tabIndex = 0;
    if (focus) next.focus({ preventScroll: false });
  }

  #key(e) {
    const n = this.#tokens.length;
    if (!n) return;
    let i = this.#focus;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') i = Math.min(n - 1, i + 1);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') i = Math.max(0, i - 1);
    else if (e.key === 'Home') i = 0;
    else if (e.key === 'End') i = n - 1;
    else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.#pick(i); return; }
    else return;
    e.preventDefault();
    this.#moveFocus(i, true);
  }

  #syncLabel() { this.strip.setAttribute('aria-label', this.getAttribute('label') ?? 'tokens'); }
}
