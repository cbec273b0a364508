//! A line of output for the person watching: stdout natively, the console in a browser.

#[cfg(not(target_arch = "wasm32"))]
pub fn line(text: &str) {
    println!("{text}");
}

#[cfg(target_arch = "wasm32")]
pub fn line(text: &str) {
    web_sys::console::log_1(&text.into());
}
