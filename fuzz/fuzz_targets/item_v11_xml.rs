#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concur_connector::fuzzing::item_v11_xml(data));
