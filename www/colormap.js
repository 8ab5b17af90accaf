// Colour scales shared by the heatmaps, legends and strips.
//
// diverging: for weights and embeddings (signed, centred on zero). Light theme: RdBu (ColorBrewer);
// dark theme: a dark-centred variant so that near-zero values do not glare.
// sequential: for attention and probabilities (viridis, readable on both themes).

const STOPS = {
  'diverging-light': ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7',
    '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f'],
  'diverging-dark': ['#9ed8ff', '#4fa3e0', '#2b6cb0', '#1b3f6e', '#14243d', '#121212',
    '#3d1a17', '#6e2620', '#b0412f', '#e07a52', '#ffc29e'],
  sequential: ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89',
    '#35b779', '#6ece58', '#b5de2b', '#fde725'],
};

const LUT_SIZE = 256;
const luts = new Map();

function hex(c) {
  return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
}

/** True when the page is in dark mode. */
export function isDark() {
  return globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false;
}

/** The resolved scale name for "diverging" | "sequential" under the current theme. */
export function resolve(name) {
  if (name === 'diverging') return isDark() ? 'diverging-dark' : 'diverging-light';
  return name in STOPS ? name : 'sequential';
}

/** A Uint8Array(256*3) lookup table for a scale. */
export function lut(name) {
  const key = resolve(name);
  let t = luts.get(key);
  if (t) return t;
  const stops = STOPS[key].map(hex);
  t = new Uint8Array(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const x = (i / (LUT_SIZE - 1)) * (stops.length - 1);
    const j = Math.min(stops.length - 2, Math.floor(x));
    const f = x - j;
    for (let k = 0; k < 3; k++) t[i * 3 + k] = Math.round(stops[j][k] * (1 - f) + stops[j + 1][k] * f);
  }
  luts.set(key, t);
  return t;
}

/** CSS linear-gradient() of a scale, for legends. */
export function gradient(name, direction = 'to right') {
  return `linear-gradient(${direction}, ${STOPS[resolve(name)].join(', ')})`;
}

/**
 * Paints values (row-major, width*height) into an ImageData, mapping [lo, hi] onto the scale.
 * NaN is painted transparent.
 */
export function paint(values, width, height, lo, hi, name) {
  const table = lut(name);
  const img = new ImageData(width, height);
  const px = img.data;
  const span = hi - lo || 1;
  for (let i = 0; i < width * height; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    let t = Math.round(((v - lo) / span) * (LUT_SIZE - 1));
    t = t < 0 ? 0 : t > LUT_SIZE - 1 ? LUT_SIZE - 1 : t;
    px[i * 4] = table[t * 3];
    px[i * 4 + 1] = table[t * 3 + 1];
    px[i * 4 + 2] = table[t * 3 + 2];
    px[i * 4 + 3] = 255;
  }
  return img;
}

/** The q-quantile (0..1) of |values|, ignoring NaN. */
export function absQuantile(values, q) {
  const a = Float32Array.from(values, Math.abs).filter((v) => !Number.isNaN(v)).sort();
  if (!a.length) return 0;
  return a[Math.min(a.length - 1, Math.floor(q * (a.length - 1)))];
}
