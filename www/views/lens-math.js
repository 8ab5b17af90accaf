// The small arithmetic of the "Through the layers" view (views/lens.js), apart from the DOM so
// that it is unit-tested (tests/unit/lens-math.test.mjs). Every number it works on comes from the
// engine (src/inspect.rs: lens, residual, mlp, neuron); nothing here computes a model quantity.

/**
 * The absolute context position whose residual stream chose generated token `p` (prompt tokens
 * first): the pass that fed the token before it, or the prompt's last token for p = 0.
 */
export function lensPosition(promptTokens, p) { return promptTokens + p - 1; }

/**
 * Where the model "decided": the first layer from which the last layer's top-1 token stays the
 * top-1 of every later layer, and the first layer where it is among the top shown at all.
 * layers: [{layer, top: [{id}]}] in layer order. Returns {id, settled, seen} (layers, or null).
 */
export function decidedAt(layers) {
  const rows = layers.filter(Boolean);
  if (!rows.length || rows.length !== layers.length) return null;
  const id = rows[rows.length - 1].top[0]?.id;
  if (id == null) return null;
  let settled = rows.length - 1;
  while (settled > 0 && rows[settled - 1].top[0]?.id === id) settled--;
  const seen = rows.findIndex((r) => r.top.some((c) => c.id === id));
  return { id, settled: rows[settled].layer, seen: seen < 0 ? null : rows[seen].layer };
}

/** The largest of several arrays of non-negative numbers (1 if all are zero or empty). */
export function maxOf(...arrays) {
  let m = 0;
  for (const a of arrays) for (const v of a ?? []) if (Number.isFinite(v) && v > m) m = v;
  return m || 1;
}

/** A bar's length as a share of the track: linear, or log1p when log (norms span decades). */
export function barShare(v, max, log = false) {
  if (!(v > 0) || !(max > 0)) return 0;
  const s = log ? Math.log1p(v) / Math.log1p(max) : v / max;
  return Math.min(1, s);
}
