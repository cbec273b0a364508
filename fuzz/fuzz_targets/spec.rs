//! Spec files (`wgtrain train --spec`): wgtrain's JSON or a Keras model's. Any text gives a
//! preset whose model is checked, or an error, never a panic or a runaway allocation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wgtrain::presets::Preset;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(preset) = Preset::from_spec_text(text, Path::new("fuzz.json")) {
        preset.model.summary().expect("a spec file's model is checked");
    }
});
