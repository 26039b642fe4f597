//! Feeds arbitrary bytes to `FrameDecoder`, in chunk sizes chosen by the
//! input itself, and reads every data frame as a batch. It must never panic,
//! and every pooled buffer must come back to the pool.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spate_net::{BufferPool, FrameDecoder, NetConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk % 64) + 1;
    let config = NetConfig {
        frame_bytes_max: 4096,
        network_buffers_per_core: 2,
        buffer_bytes: 1024,
        queued_frames_max: 8,
        ..NetConfig::default()
    };
    let Ok(mut pool) = BufferPool::from_config(&config) else { return };
    let mut decoder = FrameDecoder::new(&config);
    'stream: for piece in stream.chunks(chunk) {
        let mut input = piece;
        loop {
            match decoder.decode(&mut input, &mut pool) {
                Ok(Some(frame)) => {
                    let _ = frame.access_batch::<(u64, u64, [u8; 32])>();
                    if let Some(buffer) = frame.into_buffer() {
                        assert!(pool.release(buffer).is_ok());
                    }
                }
                Ok(None) => break,
                Err(_) => break 'stream,
            }
        }
    }
    let _ = decoder.finish(&mut pool);
    assert_eq!(pool.in_use(), 0);
});
