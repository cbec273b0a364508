//! IDX parser: any bytes give an array or an error, never a panic or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = wgtrain::data::idx::parse(data) {
        assert_eq!(array.values.len(), array.dims.iter().product::<usize>());
    }
});
