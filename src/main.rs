//! The `gatehouse` binary; everything lives in the library so tests can build it in-process.

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
