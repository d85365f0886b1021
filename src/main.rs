// mimalloc: measurably faster than the system allocator for a server that
// allocates per request (see bench/load.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    carebase::cli::main()
}
