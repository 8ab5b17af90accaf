// The model picker in the loader card: the manifest's hosted models (size, licence, whether this
// browser already holds a verified copy), the one loaded marked; and the "bring the file" list
// (where to get each, its architecture, size and licence). Picking a model loads it in a fresh
// worker: the old one is terminated, which frees its wasm memory and the file in it.
// DOM: #picker, #bring-table.

import { modelCached } from '../engine.js';
import { el } from '../components/util.js';
import { fmtBytes } from '../format.js';
import { licenceName } from '../models.js';

const $ = (id) => document.getElementById(id);

/** onPick(id): a person chose the manifest model `id`. */
export function pickerView({ onPick }) {
  let manifest = null, base = null, current = null;

  function link(url, text) {
    const a = el('a', '', text);
    a.href = url; a.rel = 'noopener'; a.target = '_blank';
    return a;
  }

  async function draw() {
    const box = $('picker');
    if (!manifest) return;
    const buttons = [];
    for (const m of manifest.models) {
      const b = el('button', 'pick');
      b.type = 'button';
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-checked', String(m.id === current));
      b.dataset.id = m.id;
      const kind = m.template === false || m.base_model ? 'base model · continues text' : 'chat';
      b.append(el('b', '', m.name), el('span', 'muted small', `${fmtBytes(m.bytes)} · ${m.quantization?.split(' ')[0] ?? ''} · ${licenceName(m.licence)} · ${kind}`));
      const c = el('span', 'small cached', '…');
      c.dataset.testid = 'cached';
      b.append(c);
      b.addEventListener('click', () => { if (m.id !== current) onPick(m.id); });
      buttons.push([b, c, m]);
    }
    box.replaceChildren(...buttons.map(([b]) => b));
    for (const [, c, m] of buttons) {
      const url = new URL(m.file, base).href;
      const here = await modelCached(url, m.sha256);
      c.textContent = m.id === current ? 'loaded in this tab' : here ? 'cached on this device' : `downloads ${fmtBytes(m.bytes)}`;
      c.dataset.state = m.id === current ? 'loaded' : here ? 'cached' : 'remote';
    }
  }

  function drawBring() {
    const tb = $('bring-table').tBodies[0];
    tb.replaceChildren();
    for (const b of manifest.bring_the_file ?? []) {
      const tr = el('tr');
      tr.dataset.id = b.id;
      const name = el('td');
      name.append(link(b.upstream.url, b.name));
      if (b.thinks) name.append(el('span', 'muted small', ' · thinks'));
      const lic = el('td');
      lic.append(b.licence?.url ? link(b.licence.url, licenceName(b.licence)) : licenceName(b.licence));
      tr.append(name, el('td', 'mono', b.expected?.architecture ?? ''),
        el('td', 'num', b.expected?.approx_bytes_q4_k_m ? `≈ ${fmtBytes(b.expected.approx_bytes_q4_k_m)}` : ''), lic);
      tb.append(tr);
    }
  }

  return {
    /** The manifest (as readManifest returned it) and its URL; which model is loading or loaded. */
    show(m, manifestUrl, id) {
      if (!m && !manifest) return;
      if (!manifest) { manifest = m; base = new URL(manifestUrl, location.href); drawBring(); }
      current = id;
      draw();
    },
    refresh: draw,
  };
}
