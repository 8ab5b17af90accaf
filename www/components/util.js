// Small helpers shared by the custom elements (not an element itself).

/** A constructable stylesheet (adopted by shadow roots; needs no 'unsafe-inline' style CSP). */
export function sheet(text) {
  const s = new CSSStyleSheet();
  s.replaceSync(text);
  return s;
}

/** document.createElement with a class and optional text (always textContent). */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

/** Calls fn when the colour scheme changes; returns a function that stops listening. */
export function onSchemeChange(fn) {
  const mq = globalThis.matchMedia?.('(prefers-color-scheme: dark)');
  if (!mq) return () => {};
  mq.addEventListener('change', fn);
  return () => mq.removeEventListener('change', fn);
}

/** Formats a number compactly for axis labels (www/format.js, where the page's formatters live). */
export { fmtAxis as fmt } from '../format.js';

/**
 * A piece of token text made visible: spaces as "·", newlines as "↵", tabs as "→", other
 * control characters as their code; returns DOM nodes (text nodes and .ws spans).
 */
export function visibleText(text) {
  const frag = document.createDocumentFragment();
  let run = '';
  const flush = () => { if (run) { frag.append(document.createTextNode(run)); run = ''; } };
  for (const ch of text) {
    let sym = null;
    if (ch === ' ') sym = '·';
    else if (ch === '\n') sym = '↵';
    else if (ch === '\t') sym = '→';
    else if (ch === '\r') sym = '␍';
    else if (ch.codePointAt(0) < 0x20 || ch.codePointAt(0) === 0x7f) sym = `\\x${ch.codePointAt(0).toString(16).padStart(2, '0')}`;
    if (sym) { flush(); frag.append(el('span', 'ws', sym)); } else run += ch;
  }
  flush();
  if (!text) frag.append(el('span', 'ws', '∅'));
  return frag;
}
