#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pacer_fuzz::native(data));
