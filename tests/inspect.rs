//! One block up close (inspect::tensor_block), for every weight type of every file at hand: the
//! Q4_1 model always, and each requantized file of models/quants/ that is present (scripts/quants.sh
//! makes them). For every tensor, at its first, middle and last block: the bytes are the file's
//! bytes of that block, the values are kernels::dequantize of those bytes bit for bit, and the
//! parts are in range (codes within their bits, one scale and one minimum per sub-block, sub-blocks
//! that tile the block). Each file is judged on its own: a failing file does not hide the others.
mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use plumbing::kernels::{self, WeightType};
use plumbing::{inspect, Model, ModelFile};
use serde_json::Value;

/// The files to look at: the model, then models/quants/*.gguf in name order.
fn files() -> Vec<PathBuf> {
    let mut v = vec![common::model_path()];
    if let Ok(dir) = std::fs::read_dir(common::root().join("models/quants")) {
        let mut q: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "gguf")).collect();
        q.sort();
        v.extend(q);
    }
    v
}

fn ints(j: &Value, key: &str) -> Result<Vec<i64>, String> {
    j[key].as_array().ok_or(format!("no {key}"))?.iter().map(|x| x.as_i64().ok_or(format!("{key}: {x} is not an integer"))).collect()
}

/// Checks one tensor_block answer against the file; returns what is wrong.
fn check_block(m: &Model, t: &Value, row: usize, block: usize) -> Result<(), String> {
    let name = t["name"].as_str().ok_or("no name")?;
    let at = format!("{name} row {row} block {block}");
    let j = inspect::tensor_block(m, name, row, block).map_err(|e| format!("{at}: {e}"))?;
    let info = m.gguf.tensor(name).ok_or(format!("{name} is not in the file"))?;
    let ty = WeightType::of(info.ggml_type).ok_or(format!("{at}: type {} has no kernels", info.ggml_type))?;
    let (qk, bb) = info.ggml_type.block();
    let (qk, bb) = (qk as usize, bb as usize);
    let el = t["block"]["elements"].as_u64().ok_or("no block.elements")? as usize;
    let cols = t["cols"].as_u64().ok_or("no cols")? as usize;
    let rows = t["rows"].as_u64().ok_or("no rows")? as usize;
    let n = el.min(cols - block * el);
    if j["type"] != t["type"] {
        return Err(format!("{at}: type {} vs the index's {}", j["type"], t["type"]));
    }

    // The bytes: the block's (or the float run's) own, where the index says the tensor is.
    let bytes: Vec<u8> = ints(&j, "bytes")?.iter().map(|&b| b as u8).collect();
    let want_len = if qk == 1 { n * bb } else { bb };
    if bytes.len() != want_len {
        return Err(format!("{at}: {} bytes, a {} block is {want_len}", bytes.len(), t["type"]));
    }
    let offset = info.offset as usize + row * (info.n_bytes as usize / rows) + block * el / qk * bb;
    if j["offset"].as_u64() != Some(offset as u64) {
        return Err(format!("{at}: offset {} vs {offset}", j["offset"]));
    }
    if m.file()[offset..offset + bytes.len()] != bytes[..] {
        return Err(format!("{at}: the bytes are not the file's at {offset}"));
    }

    // The values: exactly what the kernels decode those bytes to.
    let mut want = vec![0f32; n];
    kernels::dequantize(ty, &m.file()[offset..offset + bytes.len()], &mut want).map_err(|e| format!("{at}: {e}"))?;
    let values: Vec<f32> = j["values"].as_array().ok_or("no values")?.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect();
    if values.len() != n {
        return Err(format!("{at}: {} values, the block holds {n}", values.len()));
    }
    if let Some(i) = (0..n).find(|&i| values[i].to_bits() != want[i].to_bits()) {
        return Err(format!("{at}: value {i} is {} in the JSON, dequantize gives {}", values[i], want[i]));
    }

    // The parts.
    let bits = j["code_bits"].as_u64().ok_or("no code_bits")? as u32;
    let codes = ints(&j, "codes")?;
    if qk == 1 {
        if bits != 0 || !codes.is_empty() || j["scales"].as_array().is_none_or(|s| !s.is_empty()) {
            return Err(format!("{at}: a float type has no codes or scales: {j}"));
        }
        return Ok(());
    }
    if codes.len() != qk {
        return Err(format!("{at}: {} codes for {qk} values", codes.len()));
    }
    // Codes are unsigned below 2^bits; Q8_0's are signed bytes.
    let (lo, hi) = if codes.iter().any(|&c| c < 0) { (-(1i64 << (bits - 1)), 1i64 << (bits - 1)) } else { (0, 1i64 << bits) };
    if let Some(c) = codes.iter().find(|&&c| c < lo || c >= hi) {
        return Err(format!("{at}: code {c} is not a {bits}-bit code"));
    }
    let scales = j["scales"].as_array().ok_or("no scales")?;
    let d = scales.iter().find(|s| s[0] == "d").ok_or(format!("{at}: no scale d: {}", j["scales"]))?;
    if j["d"] != d[1] || !d[1].is_number() {
        return Err(format!("{at}: d {} vs scales {}", j["d"], j["scales"]));
    }
    if j["formula"].as_str().is_none_or(|f| f.is_empty()) {
        return Err(format!("{at}: no formula"));
    }
    let sub_len = j["sub_len"].as_u64().ok_or("no sub_len")? as usize;
    if sub_len == 0 || !qk.is_multiple_of(sub_len) {
        return Err(format!("{at}: sub-blocks of {sub_len} do not tile {qk} values"));
    }
    let (sc, mins) = (ints(&j, "sub_scales")?, ints(&j, "sub_mins")?);
    if qk == kernels::QK_K {
        if sc.len() != qk / sub_len {
            return Err(format!("{at}: {} sub-block scales for {} sub-blocks of {sub_len}", sc.len(), qk / sub_len));
        }
        if !(mins.is_empty() || mins.len() == sc.len()) {
            return Err(format!("{at}: {} minimums for {} sub-blocks", mins.len(), sc.len()));
        }
        if mins.is_empty() == scales.iter().any(|s| s[0] == "dmin") {
            return Err(format!("{at}: minimums {mins:?} without dmin, or dmin without minimums: {}", j["scales"]));
        }
        // Every bit of the block is an f16 scale, a code, or a sub-block scale or minimum.
        let sb = j["sub_bits"].as_u64().ok_or(format!("{at}: no sub_bits"))? as u32;
        if 16 * scales.len() + qk * bits as usize + (sc.len() + mins.len()) * sb as usize != bb * 8 {
            return Err(format!("{at}: {} scales, {qk} codes of {bits} bits and {} sub-block parts of {sb} bits are not {bb} bytes", scales.len(), sc.len() + mins.len()));
        }
        let (lo, hi) = if sc.iter().any(|&c| c < 0) { (-(1i64 << (sb - 1)), 1i64 << (sb - 1)) } else { (0, 1i64 << sb) };
        if let Some(c) = sc.iter().chain(&mins).find(|&&c| c < lo || c >= hi) {
            return Err(format!("{at}: sub-block part {c} is not a {sb}-bit number"));
        }
    } else if sub_len != qk || !sc.is_empty() || !mins.is_empty() {
        return Err(format!("{at}: a {qk}-value block has no sub-blocks: sub_len {sub_len}, {} scales, {} minimums", sc.len(), mins.len()));
    } else if 16 * scales.len() + qk * bits as usize != bb * 8 {
        return Err(format!("{at}: {} scales and {qk} codes of {bits} bits are not {bb} bytes", scales.len()));
    }
    Ok(())
}

/// Every tensor of the file at three blocks, and the limits just past its edges; returns the
/// tensors checked per type.
fn check_file(bytes: &[u8]) -> Result<BTreeMap<String, usize>, String> {
    let file = ModelFile::from_bytes(bytes).map_err(|e| format!("alloc: {e}"))?;
    let m = Model::load(file, &mut |_, _| {}).map_err(|e| format!("load: {e}"))?;
    let mut seen = BTreeMap::new();
    let mut errors = Vec::new();
    for info in &m.gguf.tensors {
        let t = inspect::tensor_entry(info);
        let (rows, per_row) = (t["rows"].as_u64().unwrap_or(0) as usize, t["block"]["per_row"].as_u64().unwrap_or(0) as usize);
        for (r, b) in [(0, 0), (rows / 2, per_row / 2), (rows - 1, per_row - 1)] {
            if let Err(e) = check_block(&m, &t, r, b) {
                errors.push(e);
            }
        }
        for (r, b) in [(rows, 0), (0, per_row)] {
            match inspect::tensor_block(&m, &info.name, r, b) {
                Err(e) if e.kind() == "limit" => {}
                other => errors.push(format!("{} row {r} block {b}: {other:?}, not a limit", info.name)),
            }
        }
        *seen.entry(info.ggml_type.name().to_string()).or_insert(0) += 1;
    }
    if errors.is_empty() {
        Ok(seen)
    } else {
        Err(format!("{} problems, the first: {}", errors.len(), errors[..errors.len().min(5)].join("; ")))
    }
}

#[test]
fn every_types_block_is_its_bytes_decoded() {
    let mut failed = Vec::new();
    let mut types = BTreeMap::new();
    for path in files() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                failed.push(format!("{name}: {e}"));
                continue;
            }
        };
        let r = catch_unwind(AssertUnwindSafe(|| check_file(&bytes))).unwrap_or_else(|p| {
            Err(format!("panicked: {}", p.downcast_ref::<String>().map(String::as_str).or_else(|| p.downcast_ref::<&str>().copied()).unwrap_or("?")))
        });
        match r {
            Ok(seen) => {
                eprintln!("{name}: {}", seen.iter().map(|(t, n)| format!("{t} ×{n}")).collect::<Vec<_>>().join(", "));
                for t in seen.keys() {
                    types.entry(t.clone()).or_insert(name.clone());
                }
            }
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    eprintln!("types checked: {}", types.keys().cloned().collect::<Vec<_>>().join(", "));
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    for t in ["F32", "Q4_1", "Q8_0"] {
        assert!(types.contains_key(t), "{t} was checked");
    }
}

/// What the page's explanation reads: the Q4_1 model's blocks as the engine states them.
#[test]
fn a_q4_1_block_states_its_parts() {
    let e = common::engine();
    let j = inspect::tensor_block(&e.model, "blk.0.attn_q.weight", 3, 5).expect("a block");
    assert_eq!(j["type"], "Q4_1");
    assert_eq!(j["code_bits"], 4);
    assert_eq!(j["sub_len"], 32);
    assert_eq!(j["scales"].as_array().map(|s| s.iter().map(|x| x[0].clone()).collect::<Vec<_>>()), Some(vec!["d".into(), "m".into()]));
    assert!(j["m"].is_number() && j.get("dmin").is_none() && j.get("sub_bits").is_none());
    assert_eq!(j["bytes"].as_array().map(Vec::len), Some(20));
    assert_eq!(j["col"], 5 * 32);
    let f = inspect::tensor_block(&e.model, "output_norm.weight", 0, 17).expect("the last run");
    assert_eq!(f["values"].as_array().map(Vec::len), Some(576 - 17 * 32));
    assert_eq!(f["bytes"].as_array().map(Vec::len), Some((576 - 17 * 32) * 4));
    assert_eq!(f["code_bits"], 0);
}

// ------------------------------------------------------------------------------------------------
// What the page reads to pick its mode and recognise a file (issue #11).

#[test]
fn info_says_template_thinking_and_what_the_file_is() {
    let e = common::engine();
    let j = inspect::info(&e, 8);
    assert_eq!(j["has_template"], true, "SmolLM2 has a chat template");
    assert!(j["think"].is_null(), "SmolLM2's vocabulary has no <think>: {}", j["think"]);
    let r = &j["recognised"];
    assert_eq!(r["architecture"], "llama");
    assert_eq!(r["basename"], "smollm2");
    assert_eq!(r["size_label"], "135M");
    assert_eq!(r["n_params"], 134_515_008u64);
    let types: Vec<(String, u64)> = r["types"].as_array().expect("types").iter().map(|t| (t["type"].as_str().unwrap_or("").to_owned(), t["tensors"].as_u64().unwrap_or(0))).collect();
    assert_eq!(types, vec![("F32".to_owned(), 61), ("Q4_1".to_owned(), 210), ("Q8_0".to_owned(), 1)]);
}

/// Gemma 3's file, read as a GGUF only (the forward pass is not needed): its general.* names, its
/// types, and a role for each of its 236 tensors (none left "other").
#[test]
fn gemma_tensors_have_roles_and_its_names_are_read() {
    let p = common::root().join("models/gemma-3-270m-q4_k_m.gguf");
    let Ok(bytes) = std::fs::read(&p) else {
        eprintln!("{} is missing (./build.sh model fetches it): skipped", p.display());
        return;
    };
    let g = plumbing::gguf::Gguf::read(&bytes).expect("Gemma's header reads");
    assert_eq!(g.tensors.len(), 236);
    let r = inspect::recognised(&g);
    assert_eq!(r["architecture"], "gemma3");
    assert_eq!(r["name"], "Gemma 3 270m");
    assert_eq!(r["size_label"], "270M");
    assert_eq!(r["n_params"], 268_098_176u64);
    let others: Vec<&str> = g.tensors.iter().filter(|t| inspect::role(&t.name).0 == "other").map(|t| t.name.as_str()).collect();
    assert!(others.is_empty(), "tensors without a role: {others:?}");
    assert_eq!(inspect::role("blk.3.post_ffw_norm.weight"), ("post_ffw_norm", "norm", Some(3)));
    assert_eq!(inspect::role("blk.0.attn_q.bias"), ("attn_q", "attention", Some(0)));
}
