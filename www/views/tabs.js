// The tab strip: the four views as ARIA tabs (arrows, Home, End), the open one named in the URL's
// hash (#weights, #tokenizer, #inference, #open). DOM: nav[role=tablist] and the panels it controls.

export function tabsView() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];

  function show(tab, focus = false) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
    const name = tab.id.replace('tab-', '');
    if (location.hash.slice(1) !== name) history.replaceState(null, '', `#${name}`);
  }

  for (const t of tabs) {
    t.addEventListener('click', () => show(t));
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      let j = null;
      if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === 'Home') j = 0;
      else if (e.key === 'End') j = tabs.length - 1;
      if (j != null) { e.preventDefault(); show(tabs[j], true); }
    });
  }
  const initial = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`);
  if (initial) show(initial);

  return {
    /** Opens the view named `name` ("weights", "tokenizer", "inference", "open"). */
    show: (name) => { const t = tabs.find((x) => x.id === `tab-${name}`); if (t) show(t); },
  };
}
