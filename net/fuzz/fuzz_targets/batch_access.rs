//! Validates arbitrary bytes as record batches. The frame decoder's CRC
//! stops a fuzzer from mutating payloads deeply, so rkyv validation gets its
//! own target: it must reject garbage with an error, never a panic or UB.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spate_net::access_batch;
use spate_net::rkyv::util::AlignedVec;

fuzz_target!(|data: &[u8]| {
    let mut scratch = AlignedVec::new();
    if let Ok(batch) = access_batch::<(u64, u64, [u8; 32])>(data, &mut scratch) {
        let _ = batch.iter().map(|r| r.0.to_native()).sum::<u64>();
    }
    if let Ok(batch) = access_batch::<String>(data, &mut scratch) {
        let _ = batch.iter().map(|s| s.len()).sum::<usize>();
    }
    if let Ok(batch) = access_batch::<Vec<u32>>(data, &mut scratch) {
        let _ = batch.iter().map(|v| v.len()).sum::<usize>();
    }
});
