// <plumbing-chat>'s looks: its styles (--plumbing-* custom properties, light and dark) and the
// markup of one widget (its part= hooks). www/widget.js imports them; nothing here runs a model.

const CSS = `
:host {
  --_bg: var(--plumbing-bg, #ffffff);
  --_fg: var(--plumbing-fg, #16181d);
  --_muted: var(--plumbing-muted, #5d6573);
  --_border: var(--plumbing-border, #dde1e8);
  --_surface: var(--plumbing-surface, #f4f6f9);
  --_accent: var(--plumbing-accent, #3656d8);
  --_accent-fg: var(--plumbing-accent-fg, #ffffff);
  --_ok: var(--plumbing-ok, #1d8a4e);
  --_bad: var(--plumbing-bad, #c62828);
  --_radius: var(--plumbing-radius, 12px);
  --_font: var(--plumbing-font, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", sans-serif);
  --_mono: var(--plumbing-mono, ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace);
  display: block;
  margin: var(--plumbing-margin, 1.5em 0);
  color-scheme: light;
}
:host([hidden]) { display: none; }
${dark(':host([theme="dark"])')}
@media (prefers-color-scheme: dark) { ${dark(':host(:not([theme="light"]))')} }

* { box-sizing: border-box; }
.box {
  height: 100%; display: flex; flex-direction: column; gap: 0.75rem;
  padding: 1rem 1.1rem; background: var(--_bg); color: var(--_fg);
  border: 1px solid var(--_border); border-radius: var(--_radius);
  font: 15px/1.5 var(--_font); text-align: start;
  box-shadow: var(--plumbing-shadow, 0 1px 2px #0000000d, 0 4px 16px #0000000a);
}
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.25rem 0.6rem; }
.model { font-weight: 650; color: inherit; text-decoration: none; }
a.model:hover { text-decoration: underline; }
.chip { font: 600 11px/1 var(--_font); letter-spacing: 0.04em; text-transform: uppercase;
  padding: 0.3em 0.55em; border-radius: 999px; background: var(--_surface); color: var(--_muted);
  border: 1px solid var(--_border); align-self: center; }
.meta { color: var(--_muted); font-size: 0.85em; }
.meta a { color: inherit; }
.meta > * + *::before { content: "·"; display: inline-block; margin: 0 0.4em; color: var(--_muted); text-decoration: none; }
textarea {
  width: 100%; resize: vertical; min-height: 2.6em; padding: 0.55rem 0.7rem;
  font: inherit; color: inherit; background: var(--_surface);
  border: 1px solid var(--_border); border-radius: calc(var(--_radius) * 0.6);
}
textarea:focus-visible, button:focus-visible, a:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.actions { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 0.75rem; margin-top: 0.6rem; }
button {
  font: 600 0.9em/1 var(--_font); padding: 0.6em 1.05em; border-radius: 999px; cursor: pointer;
  border: 1px solid transparent; background: var(--_accent); color: var(--_accent-fg);
  display: inline-flex; align-items: center; gap: 0.45em; white-space: nowrap;
}
button[disabled] { opacity: 0.55; cursor: default; }
button.stop { background: transparent; color: var(--_fg); border-color: var(--_border); }
button .icon { font-size: 0.8em; }
.status { color: var(--_muted); font-size: 0.85em; flex: 1 1 14em; min-width: 0; }
.status b { color: var(--_fg); font-weight: 600; }
.box[data-cached] .status b { color: var(--_ok); }
.progress { height: 4px; border-radius: 999px; background: var(--_surface); overflow: hidden; }
.progress > div { height: 100%; width: 0; background: var(--_accent); transition: width 120ms linear; }
.answer {
  white-space: pre-wrap; overflow-wrap: anywhere; overflow: auto;
  min-height: 3.2em; max-height: var(--plumbing-answer-max-height, 26em); flex: 1 1 auto;
  padding: 0.7rem 0.85rem; border-radius: calc(var(--_radius) * 0.6);
  background: var(--_surface); border: 1px solid var(--_border);
}
.reasoning { font-size: 0.88em; color: var(--_muted); border: 1px dashed var(--_border);
  border-radius: calc(var(--_radius) * 0.6); padding: 0.35rem 0.7rem; }
.reasoning summary { cursor: pointer; font-weight: 600; }
.reasoning .thought { white-space: pre-wrap; overflow-wrap: anywhere; font-style: italic; max-height: 12em; overflow: auto; margin-top: 0.3rem; }
.answer:empty::before { content: attr(data-placeholder); color: var(--_muted); font-style: italic; }
.box[data-state="running"] .answer::after {
  content: ""; display: inline-block; width: 0.5em; height: 1.05em; margin-left: 1px;
  vertical-align: -0.15em; background: var(--_accent); animation: blink 1s steps(2) infinite;
}
@keyframes blink { to { opacity: 0; } }
footer { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: 0.3rem 1rem;
  font-size: 0.8em; color: var(--_muted); }
.stats { font: 0.95em/1.4 var(--_mono); font-variant-numeric: tabular-nums; }
.link { color: var(--_accent); text-decoration: none; font-weight: 600; }
.link:hover { text-decoration: underline; }
.error { margin: 0; padding: 0.6rem 0.8rem; border-radius: calc(var(--_radius) * 0.6);
  border: 1px solid color-mix(in srgb, var(--_bad) 45%, transparent);
  background: color-mix(in srgb, var(--_bad) 9%, transparent); color: var(--_fg); font-size: 0.88em; }
.error strong { color: var(--_bad); display: block; margin-bottom: 0.2em; }
.error code { font: 0.92em/1.45 var(--_mono); overflow-wrap: anywhere; }
.note { margin: 0; font-size: 0.8em; color: var(--_muted); }
[hidden] { display: none !important; }

:host([compact]) .box { padding: 0.7rem 0.8rem; gap: 0.5rem; font-size: 14px; }
:host([compact]) .meta .long { display: none; }
:host([compact]) textarea { min-height: 2.3em; }
:host([compact]) .answer { max-height: var(--plumbing-answer-max-height, 14em); padding: 0.5rem 0.65rem; }
@media (prefers-reduced-motion: reduce) { .box[data-state="running"] .answer::after { animation: none; } }
`;

function dark(sel) {
  return `${sel} {
  --_bg: var(--plumbing-bg, #171a21); --_fg: var(--plumbing-fg, #e7e9ee); --_muted: var(--plumbing-muted, #9aa3b2);
  --_border: var(--plumbing-border, #2b303b); --_surface: var(--plumbing-surface, #1e222b);
  --_accent: var(--plumbing-accent, #8ea2ff); --_accent-fg: var(--plumbing-accent-fg, #0f1115);
  --_ok: var(--plumbing-ok, #4ade80); --_bad: var(--plumbing-bad, #f87171);
  --plumbing-shadow: 0 1px 2px #0006, 0 4px 18px #0004; color-scheme: dark; }`;
}

let sheet = null;
export function adoptStyles(root) {
  try {
    sheet ??= new CSSStyleSheet();
    if (!sheet.cssRules.length) sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet]; // no 'unsafe-inline' style CSP needed
  } catch {
    const style = document.createElement('style'); // browsers without constructable sheets
    style.textContent = CSS;
    root.append(style);
  }
}

export const TEMPLATE = document.createElement('template');
TEMPLATE.innerHTML = `
<div class="box" part="container" data-state="idle">
  <header part="header">
    <a class="model" part="model" target="_blank" rel="noopener">SmolLM2</a>
    <span class="chip" title="The model runs in this tab, in WebAssembly">in your browser</span>
    <span class="meta" part="meta"></span>
  </header>
  <form part="form">
    <textarea part="prompt" rows="2" aria-label="Prompt" spellcheck="false"></textarea>
    <div class="actions">
      <button type="submit" class="run" part="run"><span class="icon" aria-hidden="true">▶</span><span class="label">Run in your browser</span></button>
      <button type="button" class="stop" part="stop" hidden><span class="icon" aria-hidden="true">■</span>Stop</button>
      <span class="status" part="status" role="status" aria-live="polite"></span>
    </div>
  </form>
  <div class="progress" part="progress" hidden><div></div></div>
  <details class="reasoning" part="reasoning" hidden><summary part="reasoning-summary">Reasoning</summary><div class="thought" part="thought"></div></details>
  <output class="answer" part="answer" aria-live="polite" aria-label="Answer" data-placeholder="The answer appears here, token by token."></output>
  <p class="error" part="error" role="alert" hidden></p>
  <footer part="footer">
    <span class="stats" part="stats"></span>
    <a class="link" part="link" target="_blank" rel="noopener">See inside ↗</a>
  </footer>
  <p class="note" part="note" hidden></p>
</div>`;
