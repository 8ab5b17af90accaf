// Which manifest entry a GGUF is: its general.* names against models/manifest.json's entries
// (the hosted "models" and the "bring_the_file" list). Pure: no DOM, no engine (tests/unit).
// The rule is the manifest's own "match_rule": same general.architecture, and general.name or
// general.basename (lowercased, only letters and digits kept) containing one of the entry's
// names; general.size_label tells sizes apart.

const norm = (s) => String(s ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

/** What a file says it is, from the engine's info (info.recognised, or its metadata list). */
export function recognisedOf(info) {
  if (info?.recognised) return info.recognised;
  const meta = new Map((info?.metadata ?? []).map((m) => [m.key, m.value]));
  const types = new Map();
  let params = 0;
  for (const t of info?.tensors ?? []) {
    const e = types.get(t.type) ?? { type: t.type, tensors: 0, params: 0, bytes: 0 };
    e.tensors++; e.params += t.n_params; e.bytes += t.bytes; params += t.n_params;
    types.set(t.type, e);
  }
  return {
    architecture: meta.get('general.architecture') ?? info?.architecture ?? null,
    name: meta.get('general.name') ?? null, basename: meta.get('general.basename') ?? null,
    size_label: meta.get('general.size_label') ?? null, license: meta.get('general.license') ?? null,
    n_params: params, types: [...types.values()],
  };
}

/**
 * The manifest entry a file matches: {entry, hosted, sameSize} or null.
 * hosted: the entry is one of the manifest's downloadable models; sameSize: false when the file is
 * another size of the same family (its size_label differs from the entry's).
 */
export function matchEntry(manifest, rec) {
  if (!manifest || !rec?.architecture) return null;
  const names = norm(rec.name) + ' ' + norm(rec.basename);
  const lists = [[manifest.models ?? [], true], [manifest.bring_the_file ?? [], false]];
  let family = null;
  for (const [list, hosted] of lists) {
    for (const entry of list) {
      const m = entry.match;
      if (!m || m.architecture !== rec.architecture) continue;
      if (!(m.names ?? []).some((n) => names.includes(norm(n)))) continue;
      const sameSize = !m.size_label || !rec.size_label || norm(m.size_label) === norm(rec.size_label);
      if (sameSize) return { entry, hosted, sameSize };
      family ??= { entry, hosted, sameSize };
    }
  }
  return family;
}

/** The licence's short name: its SPDX id, else its name. */
export function licenceName(l) { return l?.spdx ?? l?.name ?? 'licence unknown'; }
