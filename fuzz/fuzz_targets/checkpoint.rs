//! Checkpoints (safetensors with wgtrain's metadata): any bytes give a checkpoint that passed
//! every check made before a model is built (`checkpoint::inspect`, what
//! `Model::from_checkpoint` runs first), or an error, never a panic or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((architecture, _, _)) = wgtrain::checkpoint::inspect(data.to_vec()) {
        architecture.summary().expect("a checked architecture has a summary");
    }
});
