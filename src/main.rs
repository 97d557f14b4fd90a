//! The `gatehouse` binary; everything lives in the library so tests can build it in-process.

/// jemalloc rather than glibc's malloc: glibc's malloc and free took a sixth of the CPU
/// time of an authenticated read, and its per-thread arenas held on to freed memory
/// (docs/PERFORMANCE.md compares glibc, mimalloc and jemalloc).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
