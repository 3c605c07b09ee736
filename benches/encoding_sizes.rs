//! Prints the encoded sizes that chose `GSet`'s wire encoding and that benches/README.md records:
//! `cargo bench --bench encoding_sizes` (add `-- --quick` to skip the 1M-element scattered case).
#![allow(clippy::print_stdout)]

mod datasets;

use datasets::{SIZES, Spread, elements};
use osmosis_sync::crdt::{DeltaCrdt, GSet};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "| spread | elements | JSON array (B) | roaring base64 (B) | GSet serde (B, form) | crdts::GSet JSON (B) | crdts ÷ ours | GSet digest JSON (B) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for spread in [Spread::Dense, Spread::Sparse, Spread::Scattered] {
        for n in SIZES {
            if quick && matches!(spread, Spread::Scattered) && n > 100_000 {
                continue;
            }
            let v = elements(spread, n, 0);
            let ours: GSet = v.iter().copied().collect();
            let array = serde_json::to_string(&v).expect("encode").len();
            let roaring = ours.to_roaring_base64().len() + 2;
            let encoded = serde_json::to_string(&ours).expect("encode");
            let form = if encoded.starts_with('"') { "roaring" } else { "array" };
            let mut theirs = crdts::GSet::new();
            for x in &v {
                theirs.insert(*x);
            }
            let crdts_len = serde_json::to_string(&theirs).expect("encode").len();
            let digest = serde_json::to_string(&ours.digest_seeded(1)).expect("encode").len();
            println!(
                "| {} | {n} | {array} | {roaring} | {} ({form}) | {crdts_len} | {:.1}× | {digest} |",
                spread.name(),
                encoded.len(),
                crdts_len as f64 / encoded.len() as f64
            );
        }
    }
}
