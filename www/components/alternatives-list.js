// <pl-alternatives disabled>: the top candidates of one step as probability bars.
// set(step, {chosenId}) where step is the engine's Step JSON ({top:[{id,text,prob,logit}], kept}).
// The sampled (or chosen) token is marked; a rule shows where top-k / top-p cut (after
// top[kept-1]). Each row is a button: event pl-choose {id, text, rank}.
import { sheet, el, visibleText } from './util.js';

const styles = sheet(`
:host { display: block; }
ol { list-style: none; margin: 0; padding: 0; display: grid; gap: 2px; }
li.cut { display: flex; align-items: center; gap: 0.5rem; font-size: 0.75em; color: var(--pl-muted, #888);
  margin: 0.2rem 0; }
li.cut::before, li.cut::after { content: ""; flex: 1; border-top: 1px dashed currentColor; }
button { all: unset; box-sizing: border-box; width: 100%; display: grid; cursor: pointer;
  grid-template-columns: 1.6rem minmax(5rem, 11rem) 1fr 4.2rem; align-items: center; gap: 0.5rem;
  padding: 0.2rem 0.35rem; border-radius: 4px; font-size: 0.9em; }
button:hover { background: var(--pl-hover, #8881); }
button:focus-visible { outline: 2px solid var(--pl-accent, #3b6cf6); }
:host([disabled]) button { cursor: default; }
.rank { color: var(--pl-muted, #888); font-variant-numeric: tabular-nums; text-align: right; }
.text { font-family: var(--pl-mono, ui-monospace, monospace); overflow: hidden; text-overflow: ellipsis;
  white-space: pre; }
.ws { opacity: 0.45; }
.track { display: block; height: 0.7rem; background: var(--pl-track, #8882); border-radius: 3px; overflow: hidden; }
.fill { display: block; height: 100%; width: 0; background: var(--pl-accent, #3b6cf6); border-radius: 3px; }
.out .fill { background: var(--pl-muted, #888); opacity: 0.6; }
.pct { text-align: right; font-variant-numeric: tabular-nums; font-family: var(--pl-mono, ui-monospace, monospace); }
.picked { background: var(--pl-accent-soft, #3b6cf622); }
.picked .text { font-weight: 600; }
.mark { font-size: 0.75em; color: var(--pl-accent, #3b6cf6); margin-left: 0.3rem; font-family: inherit; }
`);

export class PlAlternatives extends HTMLElement {
  static observedAttributes = ['disabled'];
  static define(tag = 'pl-alternatives', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles];
    this.list = el('ol');
    this.list.setAttribute('part', 'list');
    root.append(this.list);
    this.onClick = (e) => {
      const b = e.target.closest?.('button');
      if (!b || this.hasAttribute('disabled')) return;
      this.dispatchEvent(new CustomEvent('pl-choose', {
        detail: { id: Number(b.dataset.id), text: b.dataset.text, rank: Number(b.dataset.rank) },
        bubbles: true, composed: true,
      }));
    };
  }

  connectedCallback() { this.list.addEventListener('click', this.onClick); }
  disconnectedCallback() { this.list.removeEventListener('click', this.onClick); }
  attributeChangedCallback(n, a, b) {
    if (a === b) return;
    for (const btn of this.list.querySelectorAll('button')) btn.setAttribute('aria-disabled', String(b != null));
  }

  set(step, { chosenId } = {}) {
    this.list.replaceChildren();
    const picked = chosenId ?? step.id;
    const top = step.top ?? [];
    top.forEach((c, i) => {
      if (i === step.kept && step.kept < top.length) {
        const cut = el('li', 'cut', `cut: top-k / top-p keep ${step.kept}`);
        cut.setAttribute('part', 'cut');
        this.list.append(cut);
      }
      const li = el('li');
      const b = el('button');
      b.type = 'button';
      b.dataset.id = String(c.id);
      b.dataset.text = c.text;
      b.dataset.rank = String(i);
      b.dataset.prob = String(c.prob);
      b.dataset.logit = String(c.logit);
      b.setAttribute('part', 'alternative');
      if (i >= step.kept) b.classList.add('out');
      if (c.id === picked) b.classList.add('picked');
      const text = el('span', 'text');
      text.append(visibleText(c.text));
      if (c.id === picked) text.append(el('span', 'mark', chosenId != null && chosenId !== step.id ? 'chosen' : 'sampled'));
      const track = el('span', 'track');
      const fill = el('span', 'fill');
      fill.style.width = `${Math.max(0, Math.min(1, c.prob)) * 100}%`;
      track.append(fill);
      const pct = el('span', 'pct', `${(c.prob * 100).toFixed(c.prob < 0.001 ? 3 : 1)}%`);
      b.append(el('span', 'rank', String(i + 1)), text, track, pct);
      b.setAttribute('aria-label', `${JSON.stringify(c.text)}, ${(c.prob * 100).toFixed(1)} percent, token ${c.id}; continue from here`);
      b.title = `token ${c.id} · logit ${c.logit?.toFixed?.(2) ?? c.logit}`;
      li.append(b);
      this.list.append(li);
    });
    if (step.kept >= top.length) {
      const cut = el('li', 'cut', `top-k / top-p keep ${step.kept} candidates (cut below this list)`);
      cut.setAttribute('part', 'cut');
      this.list.append(cut);
    }
  }
}
