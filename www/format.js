// How the page and the widget write numbers for people: one place, so that "98.4 MB" or
// "1.20 s" reads the same everywhere. Pure functions (no DOM); tests/unit/format.test.mjs.

/** Bytes in decimal units: "512 B", "98.4 kB", "98.4 MB", "1.23 GB"; "–" if not a number. */
export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

/** Milliseconds: "4.2 ms", "312 ms", "1.20 s"; "–" if not a number. */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

/** An integer with thousands separators: "49,152". */
export function fmtInt(n) { return Number(n).toLocaleString('en-US'); }

/** A real number to `digits` significant digits; exponent form when very large or small. */
export function fmtNum(v, digits = 4) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.min(digits, 4) - 1);
  return Number(v.toPrecision(digits)).toString();
}

/** A number for an axis label or a legend: three significant digits, no trailing zeros. */
export function fmtAxis(v, digits = 3) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(digits - 1);
  return v.toPrecision(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** A share (0..1) as a percentage: fmtPct(0.1234) = "12.3%". */
export function fmtPct(share, digits = 1) { return `${(share * 100).toFixed(digits)}%`; }

/** A rate: "31.4 tok/s"; "–" if zero or not a number. */
export function fmtRate(tokPerS) { return tokPerS ? `${tokPerS.toFixed(1)} tok/s` : '–'; }
