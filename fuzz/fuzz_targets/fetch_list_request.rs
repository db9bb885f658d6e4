#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| concur_connector::fuzzing::fetch_list_request(data));
