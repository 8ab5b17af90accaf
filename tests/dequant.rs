//! Every weight type's dequantization equals an independent reference bit for bit: candle-core's
//! (its k_quants `GgmlType::to_float`, ports of ggml's dequantize_row_*), through its public
//! `qtensor_from_ggml` + `QTensor::dequantize`, against `plumbing::kernels::dequantize`.
//!
//! - On random blocks of every type: random bytes, with every f16 scale (and every F16, BF16 and
//!   F32 value) made finite, subnormals and zeros included.
//! - On real blocks: every tensor of every GGUF file under models/ and models/quants/ (the
//!   requantized SmolLM2 files llama.cpp's quantizer writes, one per type; when models/quants/ is
//!   missing this says so on stderr and checks the files it has).

use std::path::{Path, PathBuf};

use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType};
use candle_core::Device;
use plumbing::gguf::{Gguf, GgmlType};
use plumbing::kernels::{dequantize, WeightType};
use plumbing::sampler::Rng;
use plumbing::ModelFile;

/// candle's name for a type.
fn candle_dtype(ty: WeightType) -> GgmlDType {
    match ty {
        WeightType::F32 => GgmlDType::F32,
        WeightType::F16 => GgmlDType::F16,
        WeightType::BF16 => GgmlDType::BF16,
        WeightType::Q4_0 => GgmlDType::Q4_0,
        WeightType::Q4_1 => GgmlDType::Q4_1,
        WeightType::Q5_0 => GgmlDType::Q5_0,
        WeightType::Q5_1 => GgmlDType::Q5_1,
        WeightType::Q8_0 => GgmlDType::Q8_0,
        WeightType::Q2K => GgmlDType::Q2K,
        WeightType::Q3K => GgmlDType::Q3K,
        WeightType::Q4K => GgmlDType::Q4K,
        WeightType::Q5K => GgmlDType::Q5K,
        WeightType::Q6K => GgmlDType::Q6K,
    }
}

/// Where a block keeps its f16 scales (byte offsets in the block; ggml-common.h's layouts).
fn f16_fields(ty: WeightType) -> &'static [usize] {
    match ty {
        WeightType::Q4_0 | WeightType::Q5_0 | WeightType::Q8_0 => &[0],
        WeightType::Q4_1 | WeightType::Q5_1 | WeightType::Q4K | WeightType::Q5K => &[0, 2],
        WeightType::Q2K => &[80, 82],
        WeightType::Q3K => &[108],
        WeightType::Q6K => &[208],
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => &[],
    }
}

/// Both dequantizations of `bytes` (whole blocks of `ty`, 8-byte aligned); on a difference, a
/// message naming `what`, the count and the first value that differs.
fn compare(ty: WeightType, bytes: &[u8], what: &str) -> Result<usize, String> {
    let (per_block, block_bytes) = ty.ggml().block();
    assert!((bytes.len() as u64).is_multiple_of(block_bytes), "{what}: {} bytes are not whole {} blocks", bytes.len(), ty.ggml().name());
    let n = (bytes.len() as u64 / block_bytes * per_block) as usize;
    let mut ours = vec![0f32; n];
    dequantize(ty, bytes, &mut ours).map_err(|e| format!("{what}: plumbing: {e}"))?;
    let theirs = qtensor_from_ggml(candle_dtype(ty), bytes, vec![n], &Device::Cpu)
        .and_then(|q| q.dequantize(&Device::Cpu))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| format!("{what}: candle: {e}"))?;
    if theirs.len() != n {
        return Err(format!("{what}: candle gave {} values, we {n}", theirs.len()));
    }
    let differ: Vec<usize> = (0..n).filter(|&i| ours[i].to_bits() != theirs[i].to_bits()).collect();
    match differ.first() {
        None => Ok(n),
        Some(&i) => Err(format!(
            "{what}: {} of {n} values differ from candle's; the first is value {i} (block {}): ours {:e} ({:#010x}), candle's {:e} ({:#010x})",
            differ.len(),
            i as u64 / per_block,
            ours[i],
            ours[i].to_bits(),
            theirs[i],
            theirs[i].to_bits()
        )),
    }
}

// ------------------------------------------------------------------------------------------------
// Random blocks
// ------------------------------------------------------------------------------------------------

/// A finite f16 from random bits (an infinity or NaN exponent loses its top bit).
fn finite_f16(bits: u16) -> u16 {
    if bits & 0x7c00 == 0x7c00 { bits & !0x4000 } else { bits }
}

/// `nblocks` random blocks of `ty`, 8-byte aligned, every scale and float value finite.
fn random_blocks(ty: WeightType, nblocks: usize, rng: &mut Rng) -> ModelFile {
    let (_, block_bytes) = ty.ggml().block();
    let len = nblocks * block_bytes as usize;
    let mut f = ModelFile::with_len(len as u64).expect("a small buffer");
    let b = f.bytes_mut();
    for chunk in b.chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    match ty {
        WeightType::F32 => {
            for v in b.chunks_exact_mut(4) {
                let x = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                let x = if x & 0x7f80_0000 == 0x7f80_0000 { x & !0x4000_0000 } else { x };
                v.copy_from_slice(&x.to_le_bytes());
            }
        }
        WeightType::F16 => {
            for o in (0..len).step_by(2) {
                let h = finite_f16(u16_at(b, o));
                b[o..o + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        WeightType::BF16 => {
            for o in (0..len).step_by(2) {
                let h = u16_at(b, o);
                let h = if h & 0x7f80 == 0x7f80 { h & !0x4000 } else { h };
                b[o..o + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        _ => {
            for k in 0..nblocks {
                for &at in f16_fields(ty) {
                    let o = k * block_bytes as usize + at;
                    let h = finite_f16(u16_at(b, o));
                    b[o..o + 2].copy_from_slice(&h.to_le_bytes());
                }
            }
        }
    }
    f
}

fn check_random(ty: WeightType) {
    for seed in 1..=4u64 {
        let mut rng = Rng::new(seed * 7919 + ty as u64);
        let nblocks = if ty.qk() == 1 { 8192 } else { 512 };
        let f = random_blocks(ty, nblocks, &mut rng);
        if let Err(e) = compare(ty, f.bytes(), &format!("random {} blocks, seed {seed}", ty.ggml().name())) {
            panic!("{e}");
        }
    }
}

macro_rules! random_tests {
    ($($name:ident => $ty:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_random(WeightType::$ty);
            }
        )*
    };
}

random_tests! {
    random_f32 => F32,
    random_f16 => F16,
    random_bf16 => BF16,
    random_q4_0 => Q4_0,
    random_q4_1 => Q4_1,
    random_q5_0 => Q5_0,
    random_q5_1 => Q5_1,
    random_q8_0 => Q8_0,
    random_q2_k => Q2K,
    random_q3_k => Q3K,
    random_q4_k => Q4K,
    random_q5_k => Q5K,
    random_q6_k => Q6K,
}

/// The list above names every type.
#[test]
fn random_tests_cover_every_type() {
    assert_eq!(WeightType::ALL.len(), 13, "a weight type was added: give it a random_* test above");
}

// ------------------------------------------------------------------------------------------------
// Real files
// ------------------------------------------------------------------------------------------------

fn gguf_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "gguf")).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn real_files_dequantize_as_candle_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let quants = root.join("quants");
    let mut files = gguf_files(&root);
    if quants.is_dir() {
        files.extend(gguf_files(&quants));
    } else {
        eprintln!("dequant: {} is missing (the requantized files are made by llama.cpp's quantizer); checking {} file(s) of models/ only", quants.display(), files.len());
    }
    if files.is_empty() {
        eprintln!("dequant: no GGUF file under {}; only the random blocks were checked", root.display());
        return;
    }
    let mut failures = Vec::new();
    for path in &files {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = ModelFile::from_bytes(&raw).expect("the file fits in memory");
        drop(raw);
        let g = match Gguf::read(file.bytes()) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{}: not read: {e}", path.display()));
                continue;
            }
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut per_type: Vec<(GgmlType, usize, usize)> = Vec::new(); // (type, tensors, values)
        let mut skipped: Vec<&str> = Vec::new();
        for t in &g.tensors {
            let Some(ty) = WeightType::of(t.ggml_type) else {
                if !skipped.contains(&t.ggml_type.name()) {
                    skipped.push(t.ggml_type.name());
                }
                continue;
            };
            let start = t.offset as usize;
            let bytes = &file.bytes()[start..start + t.n_bytes as usize];
            match compare(ty, bytes, &format!("{name}: {} ({})", t.name, t.ggml_type.name())) {
                Ok(n) => match per_type.iter_mut().find(|(k, _, _)| *k == t.ggml_type) {
                    Some(e) => {
                        e.1 += 1;
                        e.2 += n;
                    }
                    None => per_type.push((t.ggml_type, 1, n)),
                },
                Err(e) => failures.push(e),
            }
        }
        let summary: Vec<String> = per_type.iter().map(|(k, nt, nv)| format!("{} ({nt} tensors, {nv} values)", k.name())).collect();
        eprintln!("dequant: {name}: equal to candle's: {}", summary.join(", "));
        if !skipped.is_empty() {
            eprintln!("dequant: {name}: types the kernels do not run, not compared: {}", skipped.join(", "));
        }
    }
    assert!(failures.is_empty(), "{} tensor(s) differ:\n{}", failures.len(), failures.join("\n"));
}
