//! What the page's weight views call, with arbitrary arguments: `tensor_view`, `tensor_block`
//! and `tensor_stats` on a small valid model (the tiny llama of tests/crafted, untied so it has
//! an output head, plus an F16 and an F32 tensor whose rows are not a multiple of 32 values).
//! Names are real ones, real ones changed, or arbitrary; rows, blocks and sizes small, at the
//! edges of the tensor's geometry, or arbitrary. Any panic is a bug; an error is fine, except
//! for a block inside the geometry that `inspect::info` reports, which must be shown.
#![no_main]

#[allow(dead_code, clippy::all)]
#[path = "../../tests/crafted/mod.rs"]
mod crafted;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use plumbing::gguf::GgmlType;
use plumbing::{inspect, Engine, ModelFile};

struct Tensor {
    name: String,
    rows: usize,
    per_row: usize,
    elements: usize,
    n_params: u64,
}

struct Fixture {
    engine: Engine,
    tensors: Vec<Tensor>,
}

fn fixture() -> Fixture {
    let mut parts = crafted::Tiny { tied: false, ..Default::default() }.parts();
    let f16: Vec<u8> = (0..40 * 3).flat_map(|i| crafted::f16(i as f32 / 7.0 - 8.0)).collect();
    parts.tensors.push(("extra.f16.weight".into(), vec![40, 3], GgmlType::F16, f16));
    parts.tensors.push(("extra.f32.weight".into(), vec![70, 2], GgmlType::F32, crafted::f32s(&vec![0.25; 140])));
    let bytes = parts.bytes();
    let engine = Engine::load(ModelFile::from_bytes(&bytes).expect("alloc"), &mut |_, _, _| {}).expect("the tiny model loads");
    let info = inspect::info(&engine, 8);
    let tensors = info["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .map(|t| Tensor {
            name: t["name"].as_str().expect("name").to_string(),
            rows: t["rows"].as_u64().expect("rows") as usize,
            per_row: t["block"]["per_row"].as_u64().expect("per_row") as usize,
            elements: t["block"]["elements"].as_u64().expect("elements") as usize,
            n_params: t["n_params"].as_u64().expect("n_params"),
        })
        .collect();
    Fixture { engine, tensors }
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

/// A number: small, at an edge (`edge` - 1, `edge`, `edge` + 1), or anything.
fn num(u: &mut Unstructured, edge: usize) -> Result<usize> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(0..=40u8)? as usize,
        1 => edge.wrapping_add(u.int_in_range(0..=2u8)? as usize).wrapping_sub(1),
        2 => usize::MAX - u.int_in_range(0..=2u8)? as usize,
        _ => u.arbitrary()?,
    })
}

/// A tensor: a real one (its name as is), or a name the model does not have.
fn tensor<'a>(u: &mut Unstructured, f: &'a Fixture) -> Result<(String, Option<&'a Tensor>)> {
    let i = u.choose_index(f.tensors.len() + 2)?;
    Ok(match f.tensors.get(i) {
        Some(t) => (t.name.clone(), Some(t)),
        None if i == f.tensors.len() => {
            let t = &f.tensors[u.choose_index(f.tensors.len())?];
            let mut name = t.name.clone();
            let at = u.int_in_range(0..=name.len())?;
            name.truncate((0..=at).rev().find(|&i| name.is_char_boundary(i)).unwrap_or(0));
            name.push_str(u.arbitrary::<&str>()?);
            (name, None)
        }
        None => (u.arbitrary::<&str>()?.to_string(), None),
    })
}

fn run(u: &mut Unstructured, f: &Fixture) -> Result<()> {
    let m = &f.engine.model;
    for _ in 0..8 {
        let (name, t) = tensor(u, f)?;
        let real = t.is_some_and(|t| t.name == name);
        match u.int_in_range(0..=2u8)? {
            0 => {
                let row = num(u, t.map_or(1, |t| t.rows))?;
                let block = num(u, t.map_or(1, |t| t.per_row))?;
                let r = inspect::tensor_block(m, &name, row, block);
                if let (true, Some(t)) = (real, t) {
                    if row < t.rows && block < t.per_row {
                        let j = r.unwrap_or_else(|e| panic!("{name} row {row} block {block} is inside the geometry: {e}"));
                        let n = j["values"].as_array().map_or(0, Vec::len);
                        assert!(n >= 1 && n <= t.elements, "{name} row {row} block {block}: {n} values, blocks of {}", t.elements);
                    }
                }
            }
            1 => {
                let (w, h, bins) = (num(u, 64)?, num(u, 64)?, num(u, 256)?);
                let r = inspect::tensor_view(m, &name, w, h, bins);
                if let (true, Some(t)) = (real, t) {
                    let v = r.unwrap_or_else(|e| panic!("{name}: view {w}x{h}, {bins} bins: {e}"));
                    assert_eq!(v.heatmap.len(), v.width * v.height);
                    assert_eq!(v.histogram.iter().map(|&c| c as u64).sum::<u64>(), t.n_params, "{name}: every value in one bin");
                }
            }
            _ => {
                let r = inspect::tensor_stats(m, &name);
                if real {
                    let s = r.unwrap_or_else(|e| panic!("{name}: stats: {e}"));
                    assert!(s.min <= s.max, "{name}: min {} max {}", s.min, s.max);
                }
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        let _ = run(&mut Unstructured::new(data), f);
    });
});
