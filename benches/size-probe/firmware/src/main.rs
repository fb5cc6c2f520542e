//! Firmware size probe: latchkey-core's whole flow in a bare `thumbv7em-none-eabihf` binary
//! (`scripts/size.sh` measures its `.text`).
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

#[path = "../../flow.rs"]
mod flow;

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

/// The entry point the linker keeps; everything reachable from it is measured.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let entropy = black_box([7u8; 48]);
    let r = flow::run(black_box(1), &entropy, black_box(1_700_000_000));
    black_box(r);
    loop {}
}
