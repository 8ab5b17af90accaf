//! Sampling: greedy, temperature, top-k, top-p, repeat penalty, seeded; and the candidates the
//! page shows next to each token.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 = greedy (argmax).
    pub temperature: f32,
    /// 0 = no top-k cut.
    pub top_k: usize,
    /// 1 = no top-p cut.
    pub top_p: f32,
    /// 1 = off. Logits of recently seen tokens are divided (if > 0) or multiplied by it.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    /// None = a fresh random seed for each run (the session reports the one it used).
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 0.7, top_k: 40, top_p: 0.95, repeat_penalty: 1.0, repeat_last_n: 64, seed: None }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub id: u32,
    pub logit: f32,
    pub prob: f32,
}

/// What one sampling decision looked like.
#[derive(Clone, Debug)]
pub struct Choice {
    pub id: u32,
    /// Probability of the chosen token (softmax at the temperature, or at 1 when greedy).
    pub prob: f32,
    /// The `n_top` best candidates by logit.
    pub top: Vec<Candidate>,
    /// Entropy of that distribution, in nats.
    pub entropy: f32,
    /// How many candidates survived top-k and top-p (1 when greedy).
    pub kept: usize,
}

/// A seed for a run that did not ask for one: 32 random bits (exact as a JavaScript number).
pub fn random_seed() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        (js_sys::Math::random() * 4294967296.0) as u64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::hash::BuildHasher;
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        std::collections::hash_map::RandomState::new().hash_one(t) >> 32
    }
}

/// A small, seedable generator (SplitMix64): the same seed gives the same tokens everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

pub struct Sampler {
    pub params: SamplingParams,
    rng: Rng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = Rng::new(params.seed.unwrap_or_else(random_seed));
        Sampler { params, rng }
    }

    /// Applies the repeat penalty and masks, then picks a token.
    /// `recent` are the tokens the penalty applies to; `masked` can never be chosen.
    pub fn sample(&mut self, logits: &mut [f32], recent: &[u32], masked: &[u32], n_top: usize) -> Choice {
        let p = &self.params;
        if p.repeat_penalty != 1.0 && p.repeat_penalty > 0.0 {
            let start = recent.len().saturating_sub(p.repeat_last_n);
            let mut seen = recent[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for &id in &seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 { *l / p.repeat_penalty } else { *l * p.repeat_penalty };
                }
            }
        }
        for &id in masked {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }

        let greedy = p.temperature <= 0.0;
        let temp = if greedy { 1.0 } else { p.temperature };
        // Softmax at the temperature over the whole vocabulary, without storing it: Z, and the
        // entropy as ln Z − E[(l − max)/T] (kernels::softmax_sums: its order).
        let max = crate::kernels::max_f32(logits);
        let (z, zl) = crate::kernels::softmax_sums(logits, max, temp);
        let entropy = z.ln() - zl / z;
        let prob = |id: u32| (crate::kernels::exp_f32((logits[id as usize] - max) / temp) as f64 / z) as f32;

        // The best candidates by logit: enough for top-k and for the display.
        let k = if p.top_k == 0 { logits.len() } else { p.top_k.min(logits.len()) };
        let want = if greedy { n_top.max(1) } else { k.max(n_top) }.min(logits.len());
        let order = best_by_logit(logits, want);

        let top: Vec<Candidate> = order.iter().take(n_top).map(|&id| Candidate { id, logit: logits[id as usize], prob: prob(id) }).collect();

        let (id, kept) = if greedy {
            (order[0], 1)
        } else {
            // top-k, then top-p over the remaining candidates.
            let probs: Vec<f32> = order[..k.min(order.len())].iter().map(|&id| prob(id)).collect();
            let mut kept = probs.len();
            if p.top_p < 1.0 {
                let mut acc = 0f32;
                for (i, &pr) in probs.iter().enumerate() {
                    acc += pr;
                    if acc >= p.top_p {
                        kept = i + 1;
                        break;
                    }
                }
            }
            let kept = kept.max(1);
            let mass: f32 = probs[..kept].iter().sum();
            let mut r = self.rng.next_f32() * mass;
            let mut chosen = order[kept - 1];
            for (i, &pr) in probs[..kept].iter().enumerate() {
                r -= pr;
                if r < 0.0 {
                    chosen = order[i];
                    break;
                }
            }
            (chosen, kept)
        };
        Choice { id, prob: prob(id), top, entropy: entropy as f32, kept }
    }
}

/// The `n` ids with the largest logits, best first (ties: lower id first).
fn best_by_logit(logits: &[f32], n: usize) -> Vec<u32> {
    let better = |a: u32, b: u32| {
        let (x, y) = (logits[a as usize], logits[b as usize]);
        x > y || (x == y && a < b)
    };
    if n <= 64 {
        // One pass with a small sorted buffer: most ids lose against its last entry at once.
        let mut best: Vec<u32> = Vec::with_capacity(n + 1);
        for id in 0..logits.len() as u32 {
            if best.len() == n && !better(id, best[n - 1]) {
                continue;
            }
            let at = best.iter().position(|&b| better(id, b)).unwrap_or(best.len());
            best.insert(at, id);
            best.truncate(n);
        }
        return best;
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let cmp = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    if n < order.len() {
        order.select_nth_unstable_by(n, cmp);
        order.truncate(n);
    }
    order.sort_unstable_by(cmp);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..100).map(|i| ((i * 37) % 100) as f32 / 10.0).collect()
    }

    #[test]
    fn greedy_is_argmax() {
        let mut s = Sampler::new(SamplingParams { temperature: 0.0, ..Default::default() });
        let mut l = logits();
        let argmax = l.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
        assert_eq!(s.sample(&mut l, &[], &[], 5).id, argmax);
    }

    #[test]
    fn probabilities_and_entropy_are_the_softmax() {
        // 1003 logits (not a multiple of the 8 lanes), some masked: against a plain f64 softmax.
        let mut l: Vec<f32> = (0..1003).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
        l[5] = f32::NEG_INFINITY;
        let max = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = l.iter().map(|&v| (v as f64 - max).exp()).sum();
        let h: f64 = -l.iter().map(|&v| (v as f64 - max).exp() / z).filter(|&p| p > 0.0).map(|p| p * p.ln()).sum::<f64>();
        let mut s = Sampler::new(SamplingParams { temperature: 0.0, ..Default::default() });
        let c = s.sample(&mut l.clone(), &[], &[], 3);
        assert!((c.entropy as f64 - h).abs() < 1e-5 * h, "entropy {} against {h}", c.entropy);
        for t in &c.top {
            let p = (l[t.id as usize] as f64 - max).exp() / z;
            assert!((t.prob as f64 - p).abs() < 1e-5 * p, "p({}) = {} against {p}", t.id, t.prob);
        }
        // Uniform: the entropy is ln n.
        let c = s.sample(&mut vec![1.5; 1003], &[], &[], 1);
        assert!((c.entropy as f64 - 1003f64.ln()).abs() < 1e-5);
    }

    #[test]
    fn same_seed_same_tokens() {
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, seed: Some(seed), ..Default::default() });
            (0..50).map(|_| s.sample(&mut logits(), &[], &[], 1).id).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_and_top_p_restrict() {
        let l = logits();
        let mut sorted: Vec<u32> = (0..100).collect();
        sorted.sort_by(|a, b| l[*b as usize].total_cmp(&l[*a as usize]));
        let mut s = Sampler::new(SamplingParams { temperature: 5.0, top_k: 3, top_p: 1.0, seed: Some(1), ..Default::default() });
        for _ in 0..200 {
            let c = s.sample(&mut l.clone(), &[], &[], 5);
            assert!(sorted[..3].contains(&c.id));
            assert_eq!(c.kept, 3);
        }
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, top_k: 0, top_p: 0.5, seed: Some(1), ..Default::default() });
        let c = s.sample(&mut l.clone(), &[], &[], 100);
        let mass: f32 = c.top[..c.kept].iter().map(|x| x.prob).sum();
        assert!(mass >= 0.5 && mass - c.top[c.kept - 1].prob < 0.5);
        for _ in 0..200 {
            let c = s.sample(&mut l.clone(), &[], &[], 1);
            assert!(sorted[..c.kept].contains(&c.id));
        }
    }

    #[test]
    fn masked_tokens_are_never_chosen() {
        let mut l = logits();
        let argmax = l.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
        let mut s = Sampler::new(SamplingParams::default());
        assert_ne!(s.sample(&mut l, &[], &[argmax], 5).id, argmax);
    }
}
