#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| renkei_fuzz::permit_check(data));
