//! .npy parser: any bytes give an array or an error, never a panic or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((shape, values)) = wgtrain::data::npy::parse(data) {
        assert_eq!(values.len(), shape.iter().product::<usize>());
    }
});
