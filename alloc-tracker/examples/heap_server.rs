//! A service that serves its heap profile at `/debug/pprof/heap`, as Go services and
//! `jemalloc_pprof` do, for Pyroscope, Parca or `go tool pprof` to scrape. Run it in sampled mode,
//! as a production service would:
//!
//! ```sh
//! ALLOC_TRACKER=sample=512KiB cargo run -p alloc-tracker --example heap_server
//! # listening on http://127.0.0.1:41557/debug/pprof/heap
//! go tool pprof -top http://127.0.0.1:41557/debug/pprof/heap
//! ```
//!
//! An optional argument is the address to listen on (default `127.0.0.1:0`, a free port). The
//! service holds a cache (`make_cache`, 64 MiB in 4 KiB entries) and a session table
//! (`open_sessions`, 16 MiB in 256-byte entries); `/quit` ends it.

use std::hint::black_box;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// 16 384 entries of 4 KiB: 64 MiB.
#[inline(never)]
fn make_cache() -> Vec<Vec<u8>> {
    (0..16_384)
        .map(|i| black_box(vec![i as u8; 4096]))
        .collect()
}

/// 65 536 entries of 256 bytes: 16 MiB.
#[inline(never)]
fn open_sessions() -> Vec<Vec<u8>> {
    (0..65_536).map(|i| black_box(vec![i as u8; 256])).collect()
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let cache = make_cache();
    let sessions = open_sessions();
    let server = tiny_http::Server::http(&addr).expect("cannot listen");
    let local = server.server_addr().to_ip().expect("an IP listener");
    println!("listening on http://{local}/debug/pprof/heap");
    for request in server.incoming_requests() {
        let response = match request.url() {
            "/debug/pprof/heap" => {
                let header =
                    tiny_http::Header::from_bytes("Content-Type", "application/octet-stream")
                        .expect("a valid header");
                tiny_http::Response::from_data(alloc_tracker::heap_profile()).with_header(header)
            }
            "/quit" => {
                let _ = request.respond(tiny_http::Response::from_string("bye\n"));
                break;
            }
            _ => tiny_http::Response::from_string("try /debug/pprof/heap\n").with_status_code(404),
        };
        let _ = request.respond(response);
    }
    drop((cache, sessions));
}
