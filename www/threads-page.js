// The thread count on the page: what the footer says next to the kernel build, and its control
// (#threads-pick). `?threads=N` asks for N threads (default: every core); a pick reloads the page
// with it (a new thread count is a new engine worker; the model comes back from Cache Storage).
// Where the page is not cross-origin isolated there is nothing to pick: one thread, said plainly.

/** The thread count `?threads=N` asks for, or undefined (every core). */
export function pageThreads() {
  const n = Number.parseInt(new URLSearchParams(location.search).get('threads') ?? '', 10);
  return n > 0 ? n : undefined;
}

/** "2 threads", or the engine's reason for one ("one thread: this page is not cross-origin isolated"). */
export function threadsText(build) {
  const n = build?.threads ?? 1;
  const count = `${n} thread${n === 1 ? '' : 's'}`;
  if (!build?.threads_note) return count;
  return build.threads_note.startsWith('one thread') ? build.threads_note : `${count} (${build.threads_note})`;
}

/** Fills the control (a <select>) with the counts one may pick; hidden where threads cannot run. */
export function threadsControl(select, build) {
  if (!select) return;
  const wrap = select.closest('label') ?? select;
  wrap.hidden = !globalThis.crossOriginIsolated || build?.flavor !== 'pkg-threads';
  if (wrap.hidden) return;
  const cores = Number(navigator.hardwareConcurrency) || 1;
  const asked = pageThreads();
  const top = Math.max(4, cores, asked ?? 0);
  const options = [['', `all cores (${cores})`]];
  for (let n = 1; n <= Math.min(top, 64); n++) options.push([String(n), `${n} thread${n === 1 ? '' : 's'}`]);
  select.replaceChildren(...options.map(([value, label]) => {
    const o = document.createElement('option');
    o.value = value; o.textContent = label;
    return o;
  }));
  select.value = asked ? String(asked) : '';
  select.onchange = () => {
    const url = new URL(location.href);
    if (select.value) url.searchParams.set('threads', select.value);
    else url.searchParams.delete('threads');
    location.assign(url.href);
  };
}
