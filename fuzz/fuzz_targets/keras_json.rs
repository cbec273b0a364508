//! Keras model JSON (`model.to_json()`), straight to `keras_json::sequential`: any bytes give a
//! model or an error, never a panic or a runaway allocation. Spec files reach the same reader
//! through a file (the `spec` target); this one skips the file and the compile defaults.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(model) = wgtrain::nn::keras_json::sequential(&json)
        && let Ok(shapes) = model.shapes()
    {
        assert_eq!(shapes.len(), model.layers.len() + 1);
        model.summary().expect("a model with shapes has a summary");
        model.param_count().expect("a model with shapes has a parameter count");
    }
});
