//! wasm size probe: latchkey-core's whole flow behind a plain `extern "C"` export (no
//! wasm-bindgen), built as a cdylib; `scripts/size.sh` reports its gzipped size.
#![no_std]

#[path = "../../flow.rs"]
mod flow;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Runs the flow for `dialect` (0 RFC 6749, 1 CRM, 2 Kommo) with entropy derived from
/// `seed`; returns a checksum.
#[unsafe(no_mangle)]
pub extern "C" fn latchkey_probe_flow(dialect: u32, seed: u32, now: u64) -> u32 {
    let mut entropy = [0u8; 48];
    for (i, b) in entropy.iter_mut().enumerate() {
        *b = (seed >> ((i % 4) * 8)) as u8 ^ i as u8;
    }
    flow::run(dialect as u8, &entropy, now) as u32
}
