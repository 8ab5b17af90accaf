// The attention inspector's arithmetic, pure (no DOM, no engine): what views/inspector.js draws
// from one captured step. tests/unit/attention-math.test.mjs.
//
// A step's attention is {nHead, nCtx, layers: [Float32Array(nHead * nCtx)]}: for each layer,
// head h's weights over the nCtx positions of the context at layers[l][h * nCtx + j] (each head's
// row is a softmax: it sums to 1).

/** One layer's heads as rows (nHead × nCtx), each row scaled to its own maximum (0..1). */
export function headRows(heads, nHead, nCtx) {
  const rows = new Float32Array(nHead * nCtx);
  for (let h = 0; h < nHead; h++) {
    let m = 0;
    for (let j = 0; j < nCtx; j++) m = Math.max(m, heads[h * nCtx + j]);
    for (let j = 0; j < nCtx; j++) rows[h * nCtx + j] = m ? heads[h * nCtx + j] / m : 0;
  }
  return rows;
}

/** Every layer as one row (nLayer × nCtx): the mean over heads, scaled to the row's maximum. */
export function layerMeans(layers, nHead, nCtx) {
  const nLayer = layers.length;
  const over = new Float32Array(nLayer * nCtx);
  for (let l = 0; l < nLayer; l++) {
    let m = 0;
    for (let j = 0; j < nCtx; j++) {
      let s = 0;
      for (let h = 0; h < nHead; h++) s += layers[l][h * nCtx + j];
      over[l * nCtx + j] = s / nHead;
      m = Math.max(m, s / nHead);
    }
    for (let j = 0; j < nCtx; j++) over[l * nCtx + j] = m ? over[l * nCtx + j] / m : 0;
  }
  return over;
}

/** Position j's share of one layer's attention: the mean over heads (not scaled). */
export function meanOverHeads(heads, nHead, nCtx, j) {
  let s = 0;
  for (let h = 0; h < nHead; h++) s += heads[h * nCtx + j];
  return s / nHead;
}

/** The k most attended positions of one layer (mean over heads): [{pos, share}], largest first,
 * ties in position order. */
export function topAttended(heads, nHead, nCtx, k = 6) {
  const mean = [];
  for (let j = 0; j < nCtx; j++) mean.push({ pos: j, share: meanOverHeads(heads, nHead, nCtx, j) });
  mean.sort((x, y) => y.share - x.share);
  return mean.slice(0, k);
}

/** The value under the cursor at column x, row y: of head y of `layer` in the heads map
 * (which = 'heads'), or of layer y's mean over heads in the layers map (which = 'layers'). */
export function attentionAt(a, which, layer, x, y) {
  if (which === 'heads') return { layer, head: y, share: a.layers[layer][y * a.nCtx + x] };
  return { layer: y, head: null, share: meanOverHeads(a.layers[y], a.nHead, a.nCtx, x) };
}

/**
 * The first nCtx tokens of the context, [{id, text}]: the prompt as fed, then the generated
 * tokens (the chosen one where a person chose; else the sampled one, its piece when its text is
 * empty). fed: [{id, text}], steps: [{step: {id, text, piece}, chosenId?, chosenText?}].
 */
export function contextTokens(fed, steps, nCtx) {
  const out = fed.slice(0, nCtx);
  for (let i = 0; out.length < nCtx && i < steps.length; i++) {
    const s = steps[i];
    out.push({ id: s.chosenId ?? s.step.id, text: s.chosenId != null ? s.chosenText : s.step.text || s.step.piece });
  }
  return out;
}
